-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_host" (
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
    "hostKeyBlob" TEXT,
    "hostKeyPinnedAt" DATETIME,
    "offeredHostKeyFingerprint" TEXT,
    "hypervisorVersion" TEXT,
    "lastError" TEXT,
    "lastCheckedAt" DATETIME,
    "shareRoots" TEXT NOT NULL DEFAULT '[]',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_host" ("authMethod", "createdAt", "host", "hostKeyAlgorithm", "hostKeyBlob", "hostKeyFingerprint", "hostKeyPinnedAt", "hypervisorVersion", "id", "kind", "lastCheckedAt", "lastError", "name", "offeredHostKeyFingerprint", "port", "secretCipher", "sshUser", "updatedAt") SELECT "authMethod", "createdAt", "host", "hostKeyAlgorithm", "hostKeyBlob", "hostKeyFingerprint", "hostKeyPinnedAt", "hypervisorVersion", "id", "kind", "lastCheckedAt", "lastError", "name", "offeredHostKeyFingerprint", "port", "secretCipher", "sshUser", "updatedAt" FROM "host";
DROP TABLE "host";
ALTER TABLE "new_host" RENAME TO "host";
CREATE UNIQUE INDEX "host_name_key" ON "host"("name");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
