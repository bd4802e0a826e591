// The Express-style app from the Forever guide, reduced to Node's http module.
const http = require('http');
const port = Number(process.env.PORT || 3000);
http
  .createServer((req, res) => res.end(JSON.stringify({ message: 'Hello from Forever!', pid: process.pid })))
  .listen(port, () => console.log(`listening on ${port}`));
