import type { IncomingMessage } from 'node:http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { TRPC_PATH } from '../../lib/trpc-path';
import type { Services } from '../services';
import type { Context } from '../trpc/init';
import { appRouter } from '../trpc/router';
import { identityRefusalMessage, type Identity } from './identity';

/** The tRPC API (queries, mutations, and the server-sent event subscriptions of live job logs). */
export function createTrpcRoute(services: Services, identify: (req: IncomingMessage) => Promise<Identity>) {
  return createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_PATH}/`,
    createContext: async ({ req }): Promise<Context> => {
      const identity = await identify(req);
      return identity.user ? { services, user: identity.user } : { services, user: null, refusal: identityRefusalMessage(identity.refusal) };
    },
  });
}
