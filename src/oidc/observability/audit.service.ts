import { Injectable, Logger } from '@nestjs/common';
import { OidcMetrics } from './oidc-metrics.service';
import type { RequestContext } from './request-context';

/** The security events of the audit trail, and what each one carries (never a secret). */
export type AuditEvent =
  | { event: 'login'; outcome: 'success' | 'failure'; via?: string; provider?: string; error?: string; sessionId?: string; userId?: string }
  | { event: 'bind'; outcome: 'success' | 'failure' | 'rate_limited'; method: 'confirm' | 'create'; sessionId?: string; accountTag?: string; error?: string }
  | { event: 'logout'; everywhere: boolean; sessionId: string; revokedSessions: number; endSessionUrl: boolean }
  | {
      event: 'backchannel_logout';
      outcome: 'accepted' | 'rejected' | 'replay' | 'unavailable' | 'rate_limited';
      provider?: string;
      reason?: string;
      revokedSessions?: number;
      by?: 'sid' | 'sub';
      /** Keyed tags of the token's `sub` and `sid` (accepted logouts), never the values. */
      subTag?: string;
      sidTag?: string;
    }
  | { event: 'frontchannel_logout'; outcome: 'accepted' | 'rejected'; provider?: string; reason?: string; revokedSessions?: number; by?: 'browser' | 'sid' }
  | { event: 'session_revoked'; reason: string; sessions: number }
  | { event: 'identity_linked'; outcome: 'success' | 'failure'; provider: string; userId: string; sessionId: string; identityId?: string; alreadyLinked?: boolean; error?: string }
  | { event: 'identity_unlinked'; userId: string; identityId: string; provider: string | null; revokedSessions: number }
  | { event: 'token_refresh'; outcome: 'success' | 'rejected' | 'unavailable'; sessionId: string }
  | { event: 'csrf_refused'; error: 'csrf_rejected' | 'unsupported_media_type'; route?: string }
  | { event: 'rate_limited'; route: string };

/**
 * One structured log line per security event (`msg: "audit"`), with the client IP (per TRUST_PROXY)
 * and user agent of the request it happened in, and the matching metric. Fields are ids, hash tags,
 * outcomes and reasons: never a token, code, password or cookie.
 */
@Injectable()
export class OidcAudit {
  private readonly logger = new Logger('Audit');

  constructor(private readonly metrics: OidcMetrics) {}

  /** @param caller the request's caller (`callerOf(req)`), absent for events outside a request (jobs). */
  record(entry: AuditEvent, caller?: RequestContext): void {
    this.logger.log({ msg: 'audit', ...entry, clientIp: caller?.clientIp, userAgent: caller?.userAgent });
    this.count(entry);
  }

  private count(entry: AuditEvent): void {
    const m = this.metrics;
    switch (entry.event) {
      case 'login':
        return m.logins.inc({ outcome: entry.outcome, via: entry.via ?? (entry.error ? 'error' : 'unknown') });
      case 'bind':
        return m.binds.inc({ method: entry.method, outcome: entry.outcome });
      case 'logout':
        return m.rpLogouts.inc({ everywhere: String(entry.everywhere), end_session_url: String(entry.endSessionUrl) });
      case 'backchannel_logout':
        return m.backchannel.inc({ outcome: entry.outcome, reason: entry.reason ?? '' });
      case 'frontchannel_logout':
        return m.frontchannel.inc({ outcome: entry.outcome, reason: entry.reason ?? '' });
      case 'session_revoked':
        return m.revocations.inc({ reason: entry.reason }, entry.sessions);
      case 'identity_linked':
        return m.identityChanges.inc({ action: 'link', outcome: entry.outcome });
      case 'identity_unlinked':
        return m.identityChanges.inc({ action: 'unlink', outcome: 'success' });
      case 'token_refresh':
        return m.refreshes.inc({ outcome: entry.outcome });
      case 'csrf_refused':
        return m.csrfRefusals.inc({ error: entry.error });
      case 'rate_limited':
        return m.rateLimited.inc({ route: entry.route });
    }
  }
}
