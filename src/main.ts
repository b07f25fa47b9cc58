import { action } from './cli/run.js';
import { serve } from './cli/serve.js';

// `npm start`: the server with embedded defaults.
await action(serve)();
