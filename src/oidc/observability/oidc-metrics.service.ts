import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { SessionRepository } from '../repositories/session.repository';

/** The live-session gauge runs a count; it is refreshed at most this often, whatever the scrape rate. */
const LIVE_SESSIONS_MAX_AGE_MS = 30_000;

/**
 * The module's Prometheus metrics, in a registry of its own (the host decides where to expose it and
 * may merge it with its own): outcome counters, request durations of the module's routes, and live
 * sessions as a cached gauge. Labels are bounded sets (outcomes, reasons, route patterns).
 */
@Injectable()
export class OidcMetrics {
  readonly registry = new Registry();
  readonly logins = new Counter({ name: 'oidc_logins_total', help: 'Sign-ins by outcome and how the identity was resolved', labelNames: ['outcome', 'via'], registers: [this.registry] });
  readonly binds = new Counter({ name: 'oidc_binds_total', help: 'Account binding attempts by method and outcome', labelNames: ['method', 'outcome'], registers: [this.registry] });
  readonly rpLogouts = new Counter({ name: 'oidc_rp_logouts_total', help: 'RP-initiated logouts', labelNames: ['everywhere', 'end_session_url'], registers: [this.registry] });
  readonly backchannel = new Counter({
    name: 'oidc_backchannel_logouts_total',
    help: 'Back-channel logout requests by outcome (accepted, rejected, replay, unavailable)',
    labelNames: ['outcome', 'reason'],
    registers: [this.registry],
  });
  readonly frontchannel = new Counter({
    name: 'oidc_frontchannel_logouts_total',
    help: 'Front-channel logout requests by outcome (accepted, rejected) and the reason of a rejection',
    labelNames: ['outcome', 'reason'],
    registers: [this.registry],
  });
  readonly identityChanges = new Counter({
    name: 'oidc_identity_changes_total',
    help: 'Identities linked while signed in, or unlinked, by outcome',
    labelNames: ['action', 'outcome'],
    registers: [this.registry],
  });
  readonly refreshes = new Counter({ name: 'oidc_token_refreshes_total', help: 'Access-token refresh grants by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly revocations = new Counter({ name: 'oidc_sessions_revoked_total', help: 'Sessions revoked, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly csrfRefusals = new Counter({ name: 'oidc_csrf_refusals_total', help: 'State-changing requests refused as cross-site or not JSON', labelNames: ['error'], registers: [this.registry] });
  readonly rateLimited = new Counter({ name: 'oidc_rate_limited_total', help: 'Requests refused by a rate limit', labelNames: ['route'], registers: [this.registry] });
  readonly requestDuration = new Histogram({
    name: 'oidc_http_request_duration_seconds',
    help: "Duration of the module's HTTP routes",
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  private liveSessions?: { value: number; at: number };

  constructor(private readonly sessions: SessionRepository) {
    const metrics = this;
    new Gauge({
      name: 'oidc_live_sessions',
      help: 'Sessions neither revoked nor expired (cached for 30 s)',
      registers: [this.registry],
      async collect() {
        this.set(await metrics.countLiveSessions());
      },
    });
  }

  private async countLiveSessions(): Promise<number> {
    if (!this.liveSessions || Date.now() - this.liveSessions.at > LIVE_SESSIONS_MAX_AGE_MS) {
      this.liveSessions = { value: await this.sessions.countLive(), at: Date.now() };
    }
    return this.liveSessions.value;
  }
}
