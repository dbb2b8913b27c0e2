-- AlterTable
ALTER TABLE "dashboard_process" ADD COLUMN "address" TEXT;

-- CreateTable
CREATE TABLE "terminal_session" (
    "sessionId" TEXT NOT NULL PRIMARY KEY,
    "runnerId" TEXT NOT NULL,
    "instance" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "boxId" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE INDEX "terminal_session_runnerId_idx" ON "terminal_session"("runnerId");
