-- CreateTable
CREATE TABLE "port_share" (
    "id" TEXT NOT NULL,
    "boxId" TEXT NOT NULL,
    "port" INTEGER NOT NULL,
    "level" TEXT NOT NULL,
    "createdById" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "port_share_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "port_share_boxId_port_key" ON "port_share"("boxId", "port");

-- AddForeignKey
ALTER TABLE "port_share" ADD CONSTRAINT "port_share_boxId_fkey" FOREIGN KEY ("boxId") REFERENCES "box"("id") ON DELETE CASCADE ON UPDATE CASCADE;
