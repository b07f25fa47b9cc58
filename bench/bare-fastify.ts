import Fastify from 'fastify';

// The baseline for `npm run bench`: Fastify with defaults (no logger, no plugins) and one route.
const app = Fastify();
app.get('/hello', async () => ({ hello: 'world' }));

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`bare fastify is serving at ${address}\n`);

const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
