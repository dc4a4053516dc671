import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Express } from 'express';
import proxyAddr from 'proxy-addr';
import { BACKCHANNEL_LOGOUT_PATH } from '../controllers/backchannel-logout.controller';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { BackchannelEndpoint } from './backchannel-endpoint.service';
import { IdpClientService } from './idp-client.service';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** An Express router layer, as far as this file reads it. */
interface RouterLayer {
  name?: string;
  handle?: unknown;
  route?: { path?: unknown; methods?: Record<string, boolean> };
  match?: (path: string) => unknown;
}

/**
 * Serves the back-channel logout paths before the host's HTTP stack sees them (Express hosts, opt-in:
 * `backchannelDirectPath: true`, `OIDC_BACKCHANNEL_DIRECT_PATH` in the demo app).
 *
 * An OP's logout burst is the module's heaviest traffic, and on Express most of a logout's CPU was not
 * the logout: Express's per-request setup and routing through every layer of the app cost more than
 * verifying the token and revoking the sessions. Here a POST whose path is exactly one of the two
 * registered back-channel routes (with the host's global prefix, if any), for the default or a
 * configured provider, goes straight to the same `BackchannelEndpoint` the Nest route runs; every other
 * request, and every other spelling of these paths, goes to the host's listener untouched.
 *
 * What the host's stack would have added and this path does not: the host's app-wide middleware,
 * global guards and interceptors on these two paths, and the `X-Powered-By`/`ETag` headers (hence
 * opt-in). The client IP is resolved with the host's own `trust proxy` setting, read on every request.
 * Not installed (the Nest route serves everything) when Express would run something of the host's for
 * such a POST before the module's route (`runsBefore`), on another HTTP platform than Express (the
 * module's routes are written for Express), when the routes are not found at one path each, or when
 * another listener also handles the server's requests.
 */
@Injectable()
export class BackchannelDirectPath implements OnApplicationBootstrap {
  private readonly logger = new Logger('BackchannelLogout');

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly endpoint: BackchannelEndpoint,
    private readonly idp: IdpClientService,
  ) {}

  onApplicationBootstrap(): void {
    const adapter = this.adapterHost?.httpAdapter;
    if (!adapter || this.options.backchannelDirectPath !== true) return; // no HTTP, or not asked for
    const off = (reason: string) => this.logger.warn({ msg: 'bcl.direct_path_off', reason });
    if (adapter.getType() !== 'express') return off(`the HTTP platform is ${adapter.getType()}, not express`);
    const app = adapter.getInstance<Express>();
    const stack = ((app as unknown as { router?: { stack?: RouterLayer[] } }).router?.stack ?? []) as RouterLayer[];
    const path = backchannelPath(stack);
    if (path === undefined) return off('the back-channel routes are not registered at one path each');
    const mounted =
      runsBefore(stack, path, [path]) ?? runsBefore(stack, `${path}/:provider`, this.options.providers.map((p) => `${path}/${encodeURIComponent(p.id)}`));
    if (mounted) return off(`the host has middleware or a route of its own on these paths (${mounted.name ?? 'anonymous'})`);
    const server = adapter.getHttpServer() as Server | undefined;
    const listeners = server?.listeners('request') ?? [];
    if (!server || listeners.length !== 1) return off('the HTTP server does not have exactly one request listener');
    const host = listeners[0] as RequestListener;
    server.removeListener('request', host);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!this.serve(app, path, req, res)) host.call(server, req, res);
    });
    this.logger.log({ msg: 'bcl.direct_path', path });
  }

  /** Serves the request if it is a POST to exactly `path` or `path/<configured provider id>`; false otherwise. */
  private serve(app: Express, path: string, req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url;
    if (req.method !== 'POST' || !url?.startsWith(path) || url.includes('#')) return false;
    const query = url.indexOf('?');
    const rest = url.slice(path.length, query === -1 ? undefined : query);
    let providerId: string | undefined;
    if (rest !== '') {
      if (rest[0] !== '/' || rest.indexOf('/', 1) !== -1) return false;
      try {
        providerId = decodeURIComponent(rest.slice(1));
      } catch {
        return false;
      }
      // Any other segment may be a route of the host's: Express decides.
      if (!this.idp.find(providerId)) return false;
    }
    const clientIp = () => proxyAddr(req, app.get('trust proxy fn') as (address: string, hop: number) => boolean);
    this.endpoint
      .serve(
        providerId === undefined
          ? { req, res, providerId, route: path, handler: 'logout', clientIp }
          : { req, res, providerId, route: `${path}/:provider`, handler: 'providerLogout', clientIp },
      )
      .catch((error: unknown) => {
        // `serve` answers every failure itself; this is the net under it (never an unhandled rejection).
        this.logger.error({ msg: 'bcl.failed', status: 500, name: (error as Error)?.name });
        if (res.headersSent) res.destroy();
        else {
          res.statusCode = 500;
          res.end();
        }
      });
    return true;
  }
}

/**
 * A layer of the host's that Express would run for a POST to one of `paths` before it reaches the
 * module's route `route` (its last registration: Nest registers middleware bound to a route as route
 * layers of the same path before it): middleware mounted on the paths, a POST route matching them, a
 * router or sub-app that may route them (not looked into). App-wide middleware is not counted (see
 * `matchesEverything`), nor layers after the route (never reached).
 */
function runsBefore(stack: RouterLayer[], route: string, paths: string[]): RouterLayer | undefined {
  let end = -1;
  stack.forEach((layer, i) => {
    if (layer.route?.path === route && layer.route.methods?.post) end = i;
  });
  return stack
    .slice(0, end)
    .find((layer) => (isRouter(layer) || !matchesEverything(layer)) && (!layer.route || layer.route.methods?.post || layer.route.methods?._all) && paths.some((p) => Boolean(layer.match?.(p))));
}

/** A router or a mounted Express app: what it routes is not visible from its own layer. */
function isRouter(layer: RouterLayer): boolean {
  const handle = layer.handle as { stack?: unknown } | undefined;
  return layer.name === 'mounted_app' || Array.isArray(handle?.stack);
}

/** App-wide middleware (Nest's own request hooks, a host's body parsers, …): it matches any path. */
function matchesEverything(layer: RouterLayer): boolean {
  return !layer.route && Boolean(layer.match?.('/oidc-direct-path-probe/6f1d'));
}

/**
 * The path of the back-channel route as the host registered it (global prefix included), when both
 * routes (`…/backchannel-logout` and `…/backchannel-logout/:provider`) are found at one path each.
 */
function backchannelPath(stack: RouterLayer[]): string | undefined {
  const posts = new Set(stack.filter((layer) => layer.route?.methods?.post && typeof layer.route.path === 'string').map((layer) => layer.route?.path as string));
  const bases = [...posts].filter((p) => p === `/${BACKCHANNEL_LOGOUT_PATH}` || p.endsWith(`/${BACKCHANNEL_LOGOUT_PATH}`));
  if (bases.length !== 1 || [...posts].filter((p) => p.endsWith(`/${BACKCHANNEL_LOGOUT_PATH}/:provider`)).length !== 1) return undefined;
  return posts.has(`${bases[0]}/:provider`) ? bases[0] : undefined;
}
