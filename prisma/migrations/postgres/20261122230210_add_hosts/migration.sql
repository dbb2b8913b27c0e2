-- CreateTable
CREATE TABLE "host" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "port" INTEGER NOT NULL DEFAULT 22,
    "sshUser" TEXT NOT NULL,
    "authMethod" TEXT NOT NULL DEFAULT 'dashboard-key',
    "secretCipher" TEXT,
    "hostKeyFingerprint" TEXT,
    "hostKeyAlgorithm" TEXT,
    "hostKeyPinnedAt" TIMESTAMP(3),
    "offeredHostKeyFingerprint" TEXT,
    "hypervisorVersion" TEXT,
    "lastError" TEXT,
    "lastCheckedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "host_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "host_name_key" ON "host"("name");
