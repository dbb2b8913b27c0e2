-- AlterTable
ALTER TABLE "dashboard_process" ADD COLUMN     "address" TEXT;

-- CreateTable
CREATE TABLE "terminal_session" (
    "sessionId" TEXT NOT NULL,
    "runnerId" TEXT NOT NULL,
    "instance" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "boxId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "terminal_session_pkey" PRIMARY KEY ("sessionId")
);

-- CreateIndex
CREATE INDEX "terminal_session_runnerId_idx" ON "terminal_session"("runnerId");
