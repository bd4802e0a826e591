// A Node HTTP API in PM2 cluster mode: one instance per CPU sharing port 3000, zero-downtime
// `reload`, readiness through `process.send('ready')`, exponential backoff on crashes.
// Under rgen the port is held by systemd (`api.socket`) and shared by `api@0..N-1.service`.
module.exports = {
  apps: [
    {
      name: 'api',
      script: './server.js',
      instances: 'max',
      exec_mode: 'cluster',
      port: 3000,
      wait_ready: true,
      listen_timeout: 5000,
      kill_timeout: 3000,
      exp_backoff_restart_delay: 100,
      max_memory_restart: '300M',
      env: {
        NODE_ENV: 'development',
      },
      env_production: {
        NODE_ENV: 'production',
      },
    },
  ],
};
