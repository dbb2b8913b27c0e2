-- CreateTable
CREATE TABLE "sign_in_throttle" (
    "key" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL,
    "since" TIMESTAMP(3) NOT NULL,
    "retryAt" TIMESTAMP(3) NOT NULL,
    "refused" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "sign_in_throttle_pkey" PRIMARY KEY ("key")
);
