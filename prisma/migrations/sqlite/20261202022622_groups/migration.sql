-- CreateTable
CREATE TABLE "user_group" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "source" TEXT NOT NULL DEFAULT 'manual',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "group_member" (
    "groupId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,

    PRIMARY KEY ("groupId", "userId"),
    CONSTRAINT "group_member_groupId_fkey" FOREIGN KEY ("groupId") REFERENCES "user_group" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "group_member_userId_fkey" FOREIGN KEY ("userId") REFERENCES "user" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "group_box" (
    "groupId" TEXT NOT NULL,
    "boxId" TEXT NOT NULL,

    PRIMARY KEY ("groupId", "boxId"),
    CONSTRAINT "group_box_groupId_fkey" FOREIGN KEY ("groupId") REFERENCES "user_group" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "group_box_boxId_fkey" FOREIGN KEY ("boxId") REFERENCES "box" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "group_tag" (
    "groupId" TEXT NOT NULL,
    "tag" TEXT NOT NULL,

    PRIMARY KEY ("groupId", "tag"),
    CONSTRAINT "group_tag_groupId_fkey" FOREIGN KEY ("groupId") REFERENCES "user_group" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "user_group_name_key" ON "user_group"("name");

-- CreateIndex
CREATE INDEX "group_member_userId_idx" ON "group_member"("userId");

-- CreateIndex
CREATE INDEX "group_box_boxId_idx" ON "group_box"("boxId");
