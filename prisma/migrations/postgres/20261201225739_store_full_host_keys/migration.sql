-- AlterTable
ALTER TABLE "box" ADD COLUMN     "hostKeyBlob" TEXT,
ADD COLUMN     "offeredHostKeyBlob" TEXT;

-- AlterTable
ALTER TABLE "host" ADD COLUMN     "hostKeyBlob" TEXT;
