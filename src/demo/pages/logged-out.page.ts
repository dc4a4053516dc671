import { renderPage } from './layout';

const BODY = `
<section class="card" id="logged-out">
  <h1>You are signed out</h1>
  <p>Your session here has ended. If the provider asked you to confirm, you are signed out there too.</p>
  <div class="actions"><a class="button" href="/auth/oidc/login?return_to=%2F">Sign in again</a><a class="button secondary" href="/">Home</a></div>
</section>`;

export function loggedOutPage(nonce: string): string {
  return renderPage(nonce, 'Signed out', BODY);
}
