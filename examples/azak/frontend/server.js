// Stand-in for `next start`: an HTTP server on $PORT that answers with its pid.
const http = require('http');
const port = Number(process.env.PORT || 3000);
http
  .createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ app: 'azak-frontend', pid: process.pid, path: req.url }));
  })
  .listen(port, () => console.log(`frontend (stand-in) listening on ${port}, pid ${process.pid}`));
process.on('SIGINT', () => process.exit(0));
