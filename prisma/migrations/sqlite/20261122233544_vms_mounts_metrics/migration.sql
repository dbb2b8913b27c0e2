-- CreateTable
CREATE TABLE "mount" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "boxId" TEXT NOT NULL,
    "hostPath" TEXT NOT NULL,
    "guestPath" TEXT NOT NULL,
    "transport" TEXT NOT NULL,
    "mode" TEXT NOT NULL DEFAULT 'consistent',
    "readOnly" BOOLEAN NOT NULL DEFAULT false,
    "ownerId" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "appliedConfig" TEXT,
    "appliedAt" DATETIME,
    "lastError" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "mount_boxId_fkey" FOREIGN KEY ("boxId") REFERENCES "box" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "mount_override" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "mountId" TEXT NOT NULL,
    "subPath" TEXT NOT NULL,
    "mode" TEXT NOT NULL,
    CONSTRAINT "mount_override_mountId_fkey" FOREIGN KEY ("mountId") REFERENCES "mount" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "mount_bench_run" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "boxId" TEXT NOT NULL,
    "transport" TEXT NOT NULL,
    "mode" TEXT NOT NULL,
    "workload" TEXT NOT NULL,
    "phase" TEXT NOT NULL,
    "durationMs" REAL NOT NULL,
    "detail" TEXT NOT NULL DEFAULT '{}',
    "at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "mount_bench_run_boxId_fkey" FOREIGN KEY ("boxId") REFERENCES "box" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "metric_point" (
    "boxId" TEXT NOT NULL,
    "resolution" INTEGER NOT NULL,
    "at" DATETIME NOT NULL,
    "cpuPct" REAL NOT NULL,
    "memUsedBytes" REAL NOT NULL,
    "memTotalBytes" REAL NOT NULL,
    "load1" REAL NOT NULL,
    "diskUsedPct" REAL,
    "netRxBps" REAL,
    "netTxBps" REAL,
    "sessions" INTEGER NOT NULL DEFAULT 0,
    "containers" INTEGER NOT NULL DEFAULT 0,
    "hostCpuPct" REAL,
    "samples" INTEGER NOT NULL,

    PRIMARY KEY ("boxId", "resolution", "at"),
    CONSTRAINT "metric_point_boxId_fkey" FOREIGN KEY ("boxId") REFERENCES "box" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "suspend_policy" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "boxId" TEXT,
    "tag" TEXT,
    "idleMinutes" INTEGER NOT NULL,
    "action" TEXT NOT NULL DEFAULT 'suspend',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_box" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "port" INTEGER NOT NULL DEFAULT 22,
    "sshUser" TEXT NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'ssh',
    "notes" TEXT NOT NULL DEFAULT '',
    "tags" TEXT NOT NULL DEFAULT '[]',
    "ownerId" TEXT NOT NULL,
    "authMethod" TEXT NOT NULL DEFAULT 'dashboard-key',
    "secretCipher" TEXT,
    "hostKeyFingerprint" TEXT,
    "hostKeyAlgorithm" TEXT,
    "hostKeyPinnedAt" DATETIME,
    "offeredHostKeyFingerprint" TEXT,
    "status" TEXT NOT NULL DEFAULT 'unknown',
    "statusMessage" TEXT NOT NULL DEFAULT '',
    "statusCheckedAt" DATETIME,
    "facts" TEXT,
    "factsAt" DATETIME,
    "vmHostId" TEXT,
    "vmId" TEXT,
    "idleSince" DATETIME,
    "suspendWarnedAt" DATETIME,
    "autoSuspendedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "box_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "user" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "box_vmHostId_fkey" FOREIGN KEY ("vmHostId") REFERENCES "host" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_box" ("authMethod", "createdAt", "facts", "factsAt", "host", "hostKeyAlgorithm", "hostKeyFingerprint", "hostKeyPinnedAt", "id", "kind", "name", "notes", "offeredHostKeyFingerprint", "ownerId", "port", "secretCipher", "sshUser", "status", "statusCheckedAt", "statusMessage", "tags", "updatedAt") SELECT "authMethod", "createdAt", "facts", "factsAt", "host", "hostKeyAlgorithm", "hostKeyFingerprint", "hostKeyPinnedAt", "id", "kind", "name", "notes", "offeredHostKeyFingerprint", "ownerId", "port", "secretCipher", "sshUser", "status", "statusCheckedAt", "statusMessage", "tags", "updatedAt" FROM "box";
DROP TABLE "box";
ALTER TABLE "new_box" RENAME TO "box";
CREATE UNIQUE INDEX "box_name_key" ON "box"("name");
CREATE INDEX "box_vmHostId_idx" ON "box"("vmHostId");
CREATE TABLE "new_job" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "boxId" TEXT,
    "boxName" TEXT,
    "hostId" TEXT,
    "hostName" TEXT,
    "createdById" TEXT,
    "createdByEmail" TEXT,
    "params" TEXT NOT NULL DEFAULT '{}',
    "state" TEXT NOT NULL DEFAULT '{}',
    "status" TEXT NOT NULL DEFAULT 'queued',
    "error" TEXT,
    "cancelRequested" BOOLEAN NOT NULL DEFAULT false,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "leaseOwner" TEXT,
    "leaseExpiresAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" DATETIME,
    "finishedAt" DATETIME
);
INSERT INTO "new_job" ("attempts", "boxId", "boxName", "cancelRequested", "createdAt", "createdByEmail", "createdById", "error", "finishedAt", "id", "kind", "leaseExpiresAt", "leaseOwner", "params", "startedAt", "state", "status") SELECT "attempts", "boxId", "boxName", "cancelRequested", "createdAt", "createdByEmail", "createdById", "error", "finishedAt", "id", "kind", "leaseExpiresAt", "leaseOwner", "params", "startedAt", "state", "status" FROM "job";
DROP TABLE "job";
ALTER TABLE "new_job" RENAME TO "job";
CREATE INDEX "job_status_createdAt_idx" ON "job"("status", "createdAt");
CREATE INDEX "job_boxId_createdAt_idx" ON "job"("boxId", "createdAt");
CREATE INDEX "job_hostId_createdAt_idx" ON "job"("hostId", "createdAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

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
