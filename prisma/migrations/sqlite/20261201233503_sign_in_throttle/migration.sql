-- CreateTable
CREATE TABLE "sign_in_throttle" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "attempts" INTEGER NOT NULL,
    "since" DATETIME NOT NULL,
    "retryAt" DATETIME NOT NULL,
    "refused" INTEGER NOT NULL DEFAULT 0
);
