-- AlterTable
ALTER TABLE "box" ADD COLUMN     "autoSuspendedAt" TIMESTAMP(3),
ADD COLUMN     "idleSince" TIMESTAMP(3),
ADD COLUMN     "suspendWarnedAt" TIMESTAMP(3),
ADD COLUMN     "vmHostId" TEXT,
ADD COLUMN     "vmId" TEXT;

-- AlterTable
ALTER TABLE "job" ADD COLUMN     "hostId" TEXT,
ADD COLUMN     "hostName" TEXT,
ALTER COLUMN "boxId" DROP NOT NULL,
ALTER COLUMN "boxName" DROP NOT NULL;

-- CreateTable
CREATE TABLE "mount" (
    "id" TEXT NOT NULL,
    "boxId" TEXT NOT NULL,
    "hostPath" TEXT NOT NULL,
    "guestPath" TEXT NOT NULL,
    "transport" TEXT NOT NULL,
    "mode" TEXT NOT NULL DEFAULT 'consistent',
    "readOnly" BOOLEAN NOT NULL DEFAULT false,
    "ownerId" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "appliedConfig" TEXT,
    "appliedAt" TIMESTAMP(3),
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "mount_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "mount_override" (
    "id" TEXT NOT NULL,
    "mountId" TEXT NOT NULL,
    "subPath" TEXT NOT NULL,
    "mode" TEXT NOT NULL,

    CONSTRAINT "mount_override_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "mount_bench_run" (
    "id" TEXT NOT NULL,
    "boxId" TEXT NOT NULL,
    "transport" TEXT NOT NULL,
    "mode" TEXT NOT NULL,
    "workload" TEXT NOT NULL,
    "phase" TEXT NOT NULL,
    "durationMs" DOUBLE PRECISION NOT NULL,
    "detail" TEXT NOT NULL DEFAULT '{}',
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "mount_bench_run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "metric_point" (
    "boxId" TEXT NOT NULL,
    "resolution" INTEGER NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "cpuPct" DOUBLE PRECISION NOT NULL,
    "memUsedBytes" DOUBLE PRECISION NOT NULL,
    "memTotalBytes" DOUBLE PRECISION NOT NULL,
    "load1" DOUBLE PRECISION NOT NULL,
    "diskUsedPct" DOUBLE PRECISION,
    "netRxBps" DOUBLE PRECISION,
    "netTxBps" DOUBLE PRECISION,
    "sessions" INTEGER NOT NULL DEFAULT 0,
    "containers" INTEGER NOT NULL DEFAULT 0,
    "hostCpuPct" DOUBLE PRECISION,
    "samples" INTEGER NOT NULL,

    CONSTRAINT "metric_point_pkey" PRIMARY KEY ("boxId","resolution","at")
);

-- CreateTable
CREATE TABLE "suspend_policy" (
    "id" TEXT NOT NULL,
    "boxId" TEXT,
    "tag" TEXT,
    "idleMinutes" INTEGER NOT NULL,
    "action" TEXT NOT NULL DEFAULT 'suspend',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "suspend_policy_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "mount_boxId_guestPath_key" ON "mount"("boxId", "guestPath");

-- CreateIndex
CREATE UNIQUE INDEX "mount_override_mountId_subPath_key" ON "mount_override"("mountId", "subPath");

-- CreateIndex
CREATE INDEX "mount_bench_run_boxId_at_idx" ON "mount_bench_run"("boxId", "at");

-- CreateIndex
CREATE INDEX "metric_point_resolution_at_idx" ON "metric_point"("resolution", "at");

-- CreateIndex
CREATE UNIQUE INDEX "suspend_policy_boxId_key" ON "suspend_policy"("boxId");

-- CreateIndex
CREATE UNIQUE INDEX "suspend_policy_tag_key" ON "suspend_policy"("tag");

-- CreateIndex
CREATE INDEX "box_vmHostId_idx" ON "box"("vmHostId");

-- CreateIndex
CREATE INDEX "job_hostId_createdAt_idx" ON "job"("hostId", "createdAt");

-- AddForeignKey
ALTER TABLE "box" ADD CONSTRAINT "box_vmHostId_fkey" FOREIGN KEY ("vmHostId") REFERENCES "host"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "mount" ADD CONSTRAINT "mount_boxId_fkey" FOREIGN KEY ("boxId") REFERENCES "box"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "mount_override" ADD CONSTRAINT "mount_override_mountId_fkey" FOREIGN KEY ("mountId") REFERENCES "mount"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "mount_bench_run" ADD CONSTRAINT "mount_bench_run_boxId_fkey" FOREIGN KEY ("boxId") REFERENCES "box"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "metric_point" ADD CONSTRAINT "metric_point_boxId_fkey" FOREIGN KEY ("boxId") REFERENCES "box"("id") ON DELETE CASCADE ON UPDATE CASCADE;
