import type { IrisModule } from '../../platform/module.js';
import { registerAuthCommands } from './cli.js';
import { registerAuthRoutes } from './routes.js';
import { authMigrations } from './schema.js';
import { authFor, bootstrapFirstAdmin } from './wiring.js';

export { authMigrations } from './schema.js';
export { registerAuthRoutes } from './routes.js';
export { registerAuthCommands } from './cli.js';
export { computeScope, scopeAllowsPatient, scopeSqlFilter } from './abac.js';
export { scopePermissions } from './oauth.js';
export { BUILTIN_ROLES } from './rbac.js';
export { authOptions, type AuthOptions } from './options.js';
export type { MailPort, MailMessage } from './mail.js';
export { AuthService } from './service.js';
export { AuthAdmin } from './admin.js';
export {
  accessGuards,
  authFor,
  bootstrapFirstAdmin,
  createAuth,
  type Auth,
  type AuthContext,
  type AuthOverrides,
} from './wiring.js';

export const authModule: IrisModule = {
  name: 'auth',
  migrations: authMigrations,
  async routes(app, ctx) {
    const auth = authFor(ctx);
    registerAuthRoutes(app, auth.service, auth.admin);
    app.addHook('onReady', async () => {
      await bootstrapFirstAdmin(auth, (text) => process.stdout.write(text));
    });
  },
  cli(program, load) {
    registerAuthCommands(program, load);
  },
};
