// The "azak" setup: a FastAPI backend under uvicorn with the project's venv python, a Next.js
// frontend started with `npm start` on port 3030, and an ngrok tunnel — written for PM2, used by
// rgen unchanged.
//
// The original pins everything under /Users/young/ai-work/azak; this copy takes the same paths
// relative to this file (`__dirname`) so it runs on any machine. Everything else is as written.
const path = require('path');
const root = __dirname;

module.exports = {
  apps: [
    {
      name: 'azak-backend',
      script: 'uvicorn',
      args: 'backend.main:app --host 0.0.0.0 --port 8000',
      cwd: root,
      interpreter: path.join(root, '.venv/bin/python'),
      max_memory_restart: '2G',
      autorestart: true,
      watch: false,
      error_file: './logs/backend-error.log',
      out_file: './logs/backend-out.log',
      env: {
        PYTHONPATH: root,
      },
    },
    {
      name: 'azak-frontend',
      script: 'npm',
      args: 'start',
      cwd: path.join(root, 'frontend'),
      max_memory_restart: '1G',
      autorestart: true,
      watch: false,
      error_file: '../logs/frontend-error.log',
      out_file: '../logs/frontend-out.log',
      env: {
        PORT: '3030',
      },
    },
    {
      name: 'azak-ngrok',
      script: 'ngrok',
      args: 'http --domain=azak.ngrok.app 3030',
      cwd: root,
      autorestart: true,
      watch: false,
      error_file: './logs/ngrok-error.log',
      out_file: './logs/ngrok-out.log',
    },
  ],
};
