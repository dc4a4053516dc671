import { z } from 'zod';
import { parseDuration } from './duration';

/**
 * The zod schema of each kind of environment value. Messages leave out the variable's name (the
 * reader puts it in front), and quote the value as given so that the fix is obvious.
 */

const quoted = (input: unknown) => `"${String(input)}"`;

export const boolSchema = z
  .enum(['true', '1', 'false', '0'], { error: (issue) => `must be true or false, got ${quoted(issue.input)}` })
  .transform((value) => value === 'true' || value === '1');

export const intSchema = (min: number, max: number) => {
  const message = (issue: { input: unknown }) => `must be an integer from ${min} to ${max}, got ${quoted(issue.input)}`;
  return z
    .string()
    .regex(/^\d+$/, { error: message })
    .transform(Number)
    .pipe(z.number().min(min, { error: (i) => message({ input: i.input }) }).max(max, { error: (i) => message({ input: i.input }) }));
};

/** `30s`, `15m`, `168h`, `7d`, `500ms` → milliseconds. */
export const durationSchema = z.string().transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be a duration like 30s, 15m, 168h or 7d, got ${quoted(value)}`, input: value });
    return z.NEVER;
  }
  return ms;
});

export const oneOfSchema = <T extends string>(allowed: readonly [T, ...T[]]) =>
  z.enum(allowed, { error: (issue) => `must be one of ${allowed.join(', ')}, got ${quoted(issue.input)}` });

/**
 * An absolute http(s) URL; http only when `allowHttp`. Refuses relative values, other schemes
 * (`javascript:`, `data:`), credentials and fragments; the first failure is the message.
 */
export const urlSchema = (allowHttp: boolean) =>
  z
    .string()
    .refine((value) => URL.canParse(value), { error: (issue) => `must be an absolute URL, got ${quoted(issue.input)}`, abort: true })
    .refine((value) => ['https:', ...(allowHttp ? ['http:'] : [])].includes(new URL(value).protocol), {
      error: (issue) =>
        allowHttp
          ? `must use http or https, got "${new URL(String(issue.input)).protocol}"`
          : `must use https (set OIDC_ALLOW_INSECURE_HTTP=true for local http), got "${new URL(String(issue.input)).protocol}"`,
      abort: true,
    })
    .refine((value) => !new URL(value).username && !new URL(value).password, { error: 'must not contain credentials', abort: true })
    .refine((value) => !new URL(value).hash, { error: 'must not contain a fragment', abort: true });

/** `N/duration` (e.g. `120/1m`): at most N requests per window of at least 1 s; `0` = off. */
export const rateLimitSchema = z.string().transform((value, ctx) => {
  if (value === '0') return { limit: 0, windowMs: 60_000 };
  const match = /^(\d{1,7})\/(.+)$/.exec(value);
  const windowMs = match ? parseDuration(match[2]) : undefined;
  if (!match || Number(match[1]) < 1 || windowMs === undefined || windowMs < 1000) {
    ctx.addIssue({ code: 'custom', message: `must look like 120/1m (requests per window of at least 1s) or 0 (off), got ${quoted(value)}`, input: value });
    return z.NEVER;
  }
  return { limit: Number(match[1]), windowMs };
});

/** A connection URL with one of these protocols (`postgres:`…). */
export const connectionUrlSchema = (protocols: string[], example: string) =>
  z
    .string()
    .refine((value) => URL.canParse(value), { error: `must be a URL like ${example}`, abort: true })
    .refine((value) => protocols.includes(new URL(value).protocol), { error: `must start with ${protocols.map((p) => `${p}//`).join(' or ')}` });

/** Issues of a failed parse as messages about `name`. */
export function problemsOf(name: string, error: z.ZodError): string[] {
  return error.issues.map((issue) => `${name} ${issue.message}`);
}
