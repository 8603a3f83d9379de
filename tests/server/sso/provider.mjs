// A real OpenID provider for the SSO tests: the certified `oidc-provider` package (npm), on 127.0.0.1.
// argv: port, then a JSON object {client_id, client_secret, redirect_uri, accounts: {login: {email, email_verified}}}.
// Its development login form accepts any password; the login typed is the account id.
import { pathToFileURL } from 'node:url';

const [port, configJson] = process.argv.slice(2);
const config = JSON.parse(configJson);
const { default: Provider } = await import(pathToFileURL(process.env.OIDC_PROVIDER_MODULE).href);

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    const account = config.accounts[id] || { email: `${id}@unknown.example`, email_verified: false };
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
  features: { devInteractions: { enabled: true } },
});
provider.listen(Number(port), '127.0.0.1', () => console.log('oidc-provider listening'));
