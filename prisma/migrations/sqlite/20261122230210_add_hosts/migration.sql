-- CreateTable
CREATE TABLE "host" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "port" INTEGER NOT NULL DEFAULT 22,
    "sshUser" TEXT NOT NULL,
    "authMethod" TEXT NOT NULL DEFAULT 'dashboard-key',
    "secretCipher" TEXT,
    "hostKeyFingerprint" TEXT,
    "hostKeyAlgorithm" TEXT,
    "hostKeyPinnedAt" DATETIME,
    "offeredHostKeyFingerprint" TEXT,
    "hypervisorVersion" TEXT,
    "lastError" TEXT,
    "lastCheckedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "host_name_key" ON "host"("name");
