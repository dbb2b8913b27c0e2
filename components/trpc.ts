'use client';
import { createTRPCContext } from '@trpc/tanstack-react-query';
// Type-only: the browser never loads server code.
import type { AppRouter } from '../server/trpc/router';

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();
