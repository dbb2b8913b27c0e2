-- CreateTable
CREATE TABLE "port_share" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "boxId" TEXT NOT NULL,
    "port" INTEGER NOT NULL,
    "level" TEXT NOT NULL,
    "createdById" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "port_share_boxId_fkey" FOREIGN KEY ("boxId") REFERENCES "box" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "port_share_boxId_port_key" ON "port_share"("boxId", "port");
