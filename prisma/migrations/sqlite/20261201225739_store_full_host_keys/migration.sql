-- AlterTable
ALTER TABLE "box" ADD COLUMN "hostKeyBlob" TEXT;
ALTER TABLE "box" ADD COLUMN "offeredHostKeyBlob" TEXT;

-- AlterTable
ALTER TABLE "host" ADD COLUMN "hostKeyBlob" TEXT;
