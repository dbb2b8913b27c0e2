-- AlterTable
ALTER TABLE "host" ADD COLUMN     "shareRoots" TEXT NOT NULL DEFAULT '[]';
