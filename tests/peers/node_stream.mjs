// A Node streaming client for the streaming benchmark's rival rows:
// torrent-stream (the engine of peerflix) or WebTorrent, each serving reads
// through its own file.createReadStream({start, end}), as their HTTP
// servers answer a player's range requests.
//
//   node node_stream.mjs torrent-stream|webtorrent MODULES_DIR TORRENT SAVE_DIR
//
// MODULES_DIR holds node_modules with the library (the benchmark installs
// it at a pinned version). DHT, LSD, PEX, UPnP, NAT-PMP, uTP and web seeds
// are off where the library allows: the torrent's tracker is the only
// source of peers.
//
// Speaks the rival driver protocol of tests/common/rivals.rs on stdin and
// stdout: prints `hello` when loaded, adds the torrent on `start`, answers
// `ID read OFFSET LEN` with `ID ok` once a read stream delivered those
// bytes, `ID have OFFSET LEN` with `ID yes` or `ID no`, `ID complete` with
// `ID ok` once every piece is verified; `seek` closes every read stream;
// `playback B/S` is ignored (neither library takes a bitrate); prints
// `peer` when the first peer connects.
//
// A read continues the stream that is already at or before its offset
// (within STREAM_REUSE_BYTES), like a player reading on from its open HTTP
// response; otherwise it opens a stream from its offset to the end of the
// file, like a new range request. Streams are drained as they deliver (a
// player's HTTP buffer); at most MAX_STREAMS stay open, the least recently
// used is closed first (one no read waits on, if any).
import { createRequire, register } from 'node:module'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createInterface } from 'node:readline'

const STREAM_REUSE_BYTES = 4 * 1024 * 1024
const MAX_STREAMS = 2

const [library, modules, torrentPath, saveDir] = process.argv.slice(2)
const say = line => process.stdout.write(line + '\n')

// Each library behind one shape: `ready` resolves to
// { file, pieceLength, has(piece), complete() }; `onPeer` and `onVerified`
// take callbacks.
async function torrentStreamClient () {
  const torrentStream = createRequire(join(resolve(modules), 'package.json'))('torrent-stream')
  return {
    start () {
      const engine = torrentStream(readFileSync(torrentPath), {
        path: saveDir,
        tmp: saveDir,
        dht: false,
        tracker: true,
        // peerflix's defaults.
        connections: 100,
        uploads: 10
      })
      const ready = new Promise(resolve => engine.on('ready', () => {
        // As peerflix: the largest file is selected as a whole.
        const file = engine.files.reduce((a, b) => (a.length > b.length ? a : b))
        file.select()
        resolve({
          file,
          pieceLength: engine.torrent.pieceLength,
          has: piece => engine.bitfield.get(piece),
          complete: () => engine.torrent.pieces.every((_, i) => engine.bitfield.get(i))
        })
      }))
      return {
        ready,
        onPeer: callback => engine.once('wire', callback),
        onVerified: callback => engine.on('verify', callback)
      }
    }
  }
}

// WebTorrent imports a WebRTC implementation whose native part npm cannot
// fetch here (a download from GitHub); peers in Node use TCP, so WebRTC is
// left out: RTCPeerConnection is undefined, as in a runtime without it.
function withoutWebRtc () {
  const stub = 'export const RTCPeerConnection = undefined; ' +
    'export const RTCSessionDescription = undefined; export const RTCIceCandidate = undefined'
  const hooks = `export async function resolve (specifier, context, next) {
    if (specifier === 'webrtc-polyfill') {
      return { url: 'data:text/javascript,' + encodeURIComponent(${JSON.stringify(stub)}), shortCircuit: true }
    }
    return next(specifier, context)
  }`
  register('data:text/javascript,' + encodeURIComponent(hooks))
}

async function webtorrentClient () {
  withoutWebRtc()
  const url = pathToFileURL(join(resolve(modules), 'node_modules/webtorrent/index.js'))
  const { default: WebTorrent } = await import(url.href)
  return {
    start () {
      const client = new WebTorrent({
        dht: false,
        lsd: false,
        utPex: false,
        natUpnp: false,
        natPmp: false,
        utp: false,
        webSeeds: false,
        // No WebRTC: without a wrtc implementation it offers none.
        tracker: {}
      })
      const torrent = client.add(readFileSync(torrentPath), { path: saveDir, private: true })
      const ready = new Promise(resolve => torrent.on('ready', () => {
        const file = torrent.files.reduce((a, b) => (a.length > b.length ? a : b))
        resolve({
          file,
          pieceLength: torrent.pieceLength,
          has: piece => torrent.bitfield.get(piece),
          complete: () => torrent.done
        })
      }))
      return {
        ready,
        onPeer: callback => torrent.once('wire', callback),
        onVerified: callback => torrent.on('verified', callback)
      }
    }
  }
}

const clients = { 'torrent-stream': torrentStreamClient, webtorrent: webtorrentClient }
const client = await clients[library]()
let session = null
let streams = []
const waiting = [] // ID complete requests

// A read stream from `start` to the end of the file and the reads waiting on it.
function openStream (ready, start) {
  const entry = { start, delivered: start, used: Date.now(), waiters: [] }
  entry.stream = ready.file.createReadStream({ start, end: ready.file.length - 1 })
  entry.stream.on('data', chunk => {
    entry.delivered += chunk.length
    entry.waiters = entry.waiters.filter(w => {
      if (w.end > entry.delivered) return true
      say(`${w.id} ok`)
      return false
    })
  })
  entry.stream.on('error', error => process.stderr.write(`stream error: ${error}\n`))
  const open = streams.filter(s => s.delivered < ready.file.length)
  if (open.length >= MAX_STREAMS) {
    // A stream a read waits on stays open if another can go.
    const idle = open.filter(s => s.waiters.length === 0)
    const oldest = (idle.length ? idle : open).reduce((a, b) => (a.used < b.used ? a : b))
    oldest.stream.destroy()
    streams = streams.filter(s => s !== oldest)
  }
  streams.push(entry)
  return entry
}

async function read (id, offset, length) {
  const ready = await session.ready
  const end = Math.min(offset + length, ready.file.length)
  let entry = streams.find(s => s.start <= offset && end <= s.delivered) ??
    streams.find(s => s.start <= offset && offset <= s.delivered + STREAM_REUSE_BYTES)
  if (!entry) entry = openStream(ready, offset)
  entry.used = Date.now()
  if (end <= entry.delivered) say(`${id} ok`)
  else entry.waiters.push({ id, end })
}

async function have (id, offset, length) {
  const ready = await session.ready
  const first = Math.floor((ready.file.offset + offset) / ready.pieceLength)
  const last = Math.floor((ready.file.offset + offset + Math.max(length, 1) - 1) / ready.pieceLength)
  let all = true
  for (let piece = first; piece <= last; piece++) all &&= Boolean(ready.has(piece))
  say(`${id} ${all ? 'yes' : 'no'}`)
}

async function answerCompletes () {
  const ready = await session.ready
  if (!ready.complete()) return
  while (waiting.length) say(`${waiting.shift()} ok`)
}

const lines = createInterface({ input: process.stdin })
lines.on('line', line => {
  const words = line.trim().split(/\s+/)
  if (words[0] === 'start') {
    session = client.start()
    session.onPeer(() => say('peer'))
    session.onVerified(() => { if (waiting.length) answerCompletes() })
  } else if (words[0] === 'seek') {
    for (const s of streams) s.stream.destroy()
    streams = []
  } else if (words[0] === 'playback') {
    // Neither library takes the media's bitrate.
  } else if (words[1] === 'read') {
    read(words[0], Number(words[2]), Number(words[3]))
  } else if (words[1] === 'have') {
    have(words[0], Number(words[2]), Number(words[3]))
  } else if (words[1] === 'complete') {
    waiting.push(words[0])
    answerCompletes()
  }
})
lines.on('close', () => process.exit(0))
say('hello')
