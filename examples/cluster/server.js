// An unmodified Node server: listens on $PORT and says when it is ready, as PM2 apps do.
const http = require('http');

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pid: process.pid, instance: process.env.NODE_APP_INSTANCE }));
});

server.listen(process.env.PORT || 3000, () => {
  if (process.send) process.send('ready');
});

process.on('SIGINT', () => server.close(() => process.exit(0)));
