import { CookieJar } from 'tough-cookie';

export interface Page {
  status: number;
  url: string;
  location?: string;
  headers: Headers;
  text: string;
}

/**
 * A cookie-keeping HTTP client that drives the flows the way a browser does (manual redirects,
 * forms), against the real app and the real dev OP.
 */
export class Browser {
  readonly jar = new CookieJar();

  async request(url: string, init: { method?: string; form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}): Promise<Page> {
    const headers = new Headers(init.headers);
    const cookie = await this.jar.getCookieString(url);
    if (cookie) headers.set('cookie', cookie);
    let body: string | undefined;
    if (init.form) {
      headers.set('content-type', 'application/x-www-form-urlencoded');
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    const response = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const setCookie of response.headers.getSetCookie()) await this.jar.setCookie(setCookie, url, { ignoreError: true });
    const location = response.headers.get('location') ?? undefined;
    return { status: response.status, url, location: location ? new URL(location, url).href : undefined, headers: response.headers, text: await response.text() };
  }

  /** Follows redirects until one leaves `stopOrigin`s control or a page is rendered. */
  async follow(page: Page, until: (url: string) => boolean = () => false): Promise<Page> {
    let current = page;
    for (let hops = 0; hops < 15; hops++) {
      if (!current.location || current.status < 300 || current.status >= 400 || until(current.location)) return current;
      current = await this.request(current.location);
    }
    throw new Error('too many redirects');
  }

  async cookie(url: string, name: string): Promise<string | undefined> {
    const cookies = await this.jar.getCookies(url);
    return cookies.find((c) => c.key === name)?.value;
  }
}

/** Reads the action and hidden inputs of the first form on a page. */
export function parseForm(html: string, base: string): { action: string; fields: Record<string, string> } {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form on page: ${html.slice(0, 200)}`);
  const fields: Record<string, string> = {};
  for (const input of form[2].matchAll(/<input[^>]*>/gi)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? '';
    if (name) fields[name] = value;
  }
  return { action: new URL(form[1].replace(/&amp;/g, '&'), base).href, fields };
}
