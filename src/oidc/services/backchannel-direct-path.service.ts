import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Express } from 'express';
import proxyAddr from 'proxy-addr';
import { BACKCHANNEL_LOGOUT_PATH } from '../controllers/backchannel-logout.controller';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { BackchannelEndpoint } from './backchannel-endpoint.service';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Serves the back-channel logout paths before the host's HTTP stack sees them (Express hosts).
 *
 * An OP's logout burst is the module's heaviest traffic, and on Express most of a logout's CPU was not
 * the logout: Express's per-request setup and routing through every layer of the app cost more than
 * verifying the token and revoking the sessions. Here a POST whose path is exactly one of the two
 * registered back-channel routes (with the host's global prefix, if any) goes straight to the same
 * `BackchannelEndpoint` the Nest route runs; every other request, and every other spelling of these
 * paths, goes to the host's listener untouched.
 *
 * What the host's stack would have added and this path does not: the host's own middleware, global
 * guards and interceptors on these two paths, and the `X-Powered-By`/`ETag` headers. The client IP is
 * resolved with the host's own `trust proxy` setting. `OIDC_BACKCHANNEL_DIRECT_PATH=false` turns it off.
 * Not installed (the Nest route serves everything) when the routes cannot be found exactly once, when
 * another listener also handles the server's requests, or on another HTTP platform than Express.
 */
@Injectable()
export class BackchannelDirectPath implements OnApplicationBootstrap {
  private readonly logger = new Logger('BackchannelLogout');

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly endpoint: BackchannelEndpoint,
  ) {}

  onApplicationBootstrap(): void {
    const adapter = this.adapterHost?.httpAdapter;
    if (!adapter) return; // an application context without HTTP
    const off = (reason: string) => this.logger.log({ msg: 'bcl.direct_path_off', reason });
    if (this.options.backchannelDirectPath === false) return off('switched off (backchannelDirectPath: false)');
    if (adapter.getType() !== 'express') return off(`the HTTP platform is ${adapter.getType()}, not express`);
    const app = adapter.getInstance<Express>();
    const server = adapter.getHttpServer() as Server | undefined;
    const path = backchannelPath(app);
    if (path === undefined) return off('the back-channel routes are not registered exactly once');
    const listeners = server?.listeners('request') ?? [];
    if (!server || listeners.length !== 1) return off('the HTTP server does not have exactly one request listener');
    const host = listeners[0] as RequestListener;
    server.removeListener('request', host);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!this.serve(app, path, req, res)) host.call(server, req, res);
    });
    this.logger.log({ msg: 'bcl.direct_path', path });
  }

  /** Serves the request if it is a POST to exactly `path` or `path/<provider id>`; false otherwise. */
  private serve(app: Express, path: string, req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'POST' || !req.url?.startsWith(path)) return false;
    const query = req.url.indexOf('?');
    const rest = req.url.slice(path.length, query === -1 ? undefined : query);
    let providerId: string | undefined;
    if (rest !== '') {
      if (rest[0] !== '/' || rest.length === 1 || rest.indexOf('/', 1) !== -1) return false;
      try {
        providerId = decodeURIComponent(rest.slice(1));
      } catch {
        return false;
      }
    }
    const clientIp = () => proxyAddr(req, app.get('trust proxy fn') as (address: string, hop: number) => boolean);
    void this.endpoint.serve(
      providerId === undefined
        ? { req, res, providerId, route: path, handler: 'logout', clientIp }
        : { req, res, providerId, route: `${path}/:provider`, handler: 'providerLogout', clientIp },
    );
    return true;
  }
}

/**
 * The path of the back-channel route as the host registered it (global prefix included), when both
 * routes (`…/backchannel-logout` and `…/backchannel-logout/:provider`) are found once each.
 */
function backchannelPath(app: Express): string | undefined {
  const stack = (app as unknown as { router?: { stack?: Array<{ route?: { path?: unknown; methods?: Record<string, boolean> } }> } }).router?.stack ?? [];
  const posts = stack.filter((layer) => layer.route?.methods?.post && typeof layer.route.path === 'string').map((layer) => layer.route?.path as string);
  const bases = posts.filter((p) => p === `/${BACKCHANNEL_LOGOUT_PATH}` || p.endsWith(`/${BACKCHANNEL_LOGOUT_PATH}`));
  if (bases.length !== 1 || posts.filter((p) => p.endsWith(`/${BACKCHANNEL_LOGOUT_PATH}/:provider`)).length !== 1) return undefined;
  return posts.includes(`${bases[0]}/:provider`) ? bases[0] : undefined;
}
