'use strict';
// rgen-shim preload, loaded through NODE_OPTIONS=--require into *every* Node process of one app:
// the app itself, but also npm/yarn/npx and whatever they spawn. So everything below is inert
// unless the shim's variables ask for it, never throws into the host, and opens no handle that
// would keep an event loop alive.
(function rgenShimPreload() {
  var env = process.env;
  var fifo = env.RGEN_SHIM_FIFO;
  var readyOn = env.RGEN_SHIM_READY_ON;
  var listenFd = env.RGEN_LISTEN_FD;
  var listenPort = env.RGEN_LISTEN_PORT;

  // One synchronous, atomic (< PIPE_BUF) write per report: delivered even if the process exits
  // right after, and no socket handle to unref.
  function tell(line) {
    if (!fifo) return;
    try {
      var fs = require('fs');
      var fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      try {
        fs.writeSync(fd, line + '\n');
      } finally {
        fs.closeSync(fd);
      }
    } catch (_) {
      // The shim is gone or its FIFO is full: nothing useful to do, and the app must not care.
    }
  }

  // Behind npm/yarn the IPC channel belongs to the package manager, so the real app has no
  // process.send. Give it one that relays PM2's 'ready' to the shim.
  try {
    if (fifo && readyOn === 'ready' && typeof process.send !== 'function') {
      process.send = function send(message) {
        try {
          if (message === 'ready') tell('ready ' + process.pid);
          var last = arguments[arguments.length - 1];
          if (arguments.length > 1 && typeof last === 'function') process.nextTick(last, null);
        } catch (_) {}
        return true;
      };
    }
  } catch (_) {}

  if (!(fifo && readyOn === 'listening') && !(listenFd && listenPort)) return;

  // The port a listen() call asks for, or undefined for pipes, handles, fds and random ports.
  function portOf(args) {
    var a = args[0];
    if (a !== null && typeof a === 'object') {
      if (a.fd !== undefined || a.path !== undefined || a.handle !== undefined || a._handle) return undefined;
      a = a.port;
    }
    if (typeof a === 'number') return a;
    if (typeof a === 'string' && /^\s*\d+\s*$/.test(a)) return Number(a);
    return undefined;
  }

  // A package manager between the shim and the app marks inherited descriptors close-on-exec,
  // so in its children the number may name nothing, or something else: then listen as asked.
  function isSocket(fd) {
    try {
      return require('fs').fstatSync(fd).isSocket();
    } catch (_) {
      return false;
    }
  }

  try {
    var net = require('net');
    var original = net.Server.prototype.listen;
    var wantedPort = listenPort ? Number(listenPort) : NaN;
    var fdUsed = false;

    net.Server.prototype.listen = function listen() {
      var args = Array.prototype.slice.call(arguments);
      try {
        if (fifo && readyOn === 'listening') {
          this.once('listening', function () {
            try {
              var addr = this.address();
              tell('listening ' + process.pid + ' ' + (addr && addr.port !== undefined ? addr.port : ''));
            } catch (_) {}
          });
        }
        // Only the first listen on the shim's port in this process takes the shim's socket:
        // a second server on that port is the app's own business.
        if (listenFd && !fdUsed && portOf(args) === wantedPort && isSocket(Number(listenFd))) {
          fdUsed = true;
          var cb = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
          var handle = { fd: Number(listenFd) };
          return cb ? original.call(this, handle, cb) : original.call(this, handle);
        }
      } catch (_) {}
      return original.apply(this, args);
    };
  } catch (_) {}
})();
