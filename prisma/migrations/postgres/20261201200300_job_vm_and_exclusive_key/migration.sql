-- AlterTable
ALTER TABLE "job" ADD COLUMN     "exclusiveKey" TEXT,
ADD COLUMN     "vmId" TEXT;

-- Backfill: the VM lifecycle jobs named their VM in their params only (JSON written by the dashboard).
UPDATE "job" SET "vmId" = ("params"::jsonb ->> 'vmId')
WHERE "kind" IN ('vm.start', 'vm.stop', 'vm.suspend', 'vm.resume', 'vm.restart', 'vm.pause') AND "params" LIKE '{%';

-- Backfill: the active jobs get the exclusive keys enqueue gives them now ("<lane>:<target>"), so a job queued or
-- running across the upgrade still blocks a second one on its target. Of active jobs that already share a key (a
-- race the old check lost), the oldest keeps it, as the new unique index needs.
UPDATE "job" SET "exclusiveKey" = 'vm:' || "hostId" || ':' || "vmId"
WHERE "status" IN ('queued', 'running') AND "kind" IN ('vm.start', 'vm.stop', 'vm.suspend', 'vm.resume', 'vm.restart', 'vm.pause') AND "hostId" IS NOT NULL AND "vmId" IS NOT NULL;
UPDATE "job" SET "exclusiveKey" = 'box-power:' || "boxId"
WHERE "status" IN ('queued', 'running') AND "kind" IN ('box.reboot', 'box.poweroff') AND "boxId" IS NOT NULL;
UPDATE "job" SET "exclusiveKey" = 'docker:' || "boxId"
WHERE "status" IN ('queued', 'running') AND "kind" = 'docker' AND "boxId" IS NOT NULL;
UPDATE "job" SET "exclusiveKey" = 'mounts:' || "boxId"
WHERE "status" IN ('queued', 'running') AND "kind" IN ('mounts.apply', 'mounts.measure') AND "boxId" IS NOT NULL;
UPDATE "job" SET "exclusiveKey" = NULL
WHERE "exclusiveKey" IS NOT NULL AND EXISTS (
    SELECT 1 FROM "job" AS "earlier"
    WHERE "earlier"."exclusiveKey" = "job"."exclusiveKey" AND "earlier"."status" IN ('queued', 'running')
      AND ("earlier"."createdAt" < "job"."createdAt" OR ("earlier"."createdAt" = "job"."createdAt" AND "earlier"."id" < "job"."id"))
);

-- CreateIndex
CREATE UNIQUE INDEX "job_exclusiveKey_key" ON "job"("exclusiveKey");

-- CreateIndex
CREATE INDEX "job_hostId_vmId_idx" ON "job"("hostId", "vmId");
