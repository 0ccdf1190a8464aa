//! `piecewise create` against libtorrent as the reference: libtorrent must
//! accept our torrents and find every piece of the data valid, and our
//! parser must read libtorrent's torrents with the same info-hash.

use std::path::{Path, PathBuf};
use std::process::Command;

use piecewise::engine::magnet::Magnet;
use piecewise::engine::metainfo::Metainfo;
use serde_json::Value;

fn torrent_check(args: &[&Path]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/torrent_check.py");
    let output = Command::new("/usr/bin/python3")
        .arg(script)
        .args(args)
        .output()
        .expect("run /usr/bin/python3 with libtorrent");
    assert!(
        output.status.success(),
        "torrent_check.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from torrent_check.py")
}

fn piecewise_create(path: &Path, out: &Path, extra: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_piecewise"))
        .arg("create")
        .arg(path)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "piecewise create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn write_pattern(path: &Path, len: usize, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let data: Vec<u8> = (0..len).map(|i| ((i * 7919) >> 3) as u8 ^ seed).collect();
    std::fs::write(path, data).unwrap();
}

fn inspect(torrent: &Path) -> Value {
    torrent_check(&[Path::new("inspect"), torrent])
}

fn verify(torrent: &Path, save_dir: &Path) -> u64 {
    let result = torrent_check(&[Path::new("verify"), torrent, save_dir]);
    assert_eq!(result["checked"], true, "libtorrent finished checking");
    result["num_pieces_had"].as_u64().unwrap()
}

fn files_of(lt: &Value) -> Vec<(PathBuf, u64)> {
    lt["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                PathBuf::from(f[0].as_str().unwrap()),
                f[1].as_u64().unwrap(),
            )
        })
        .collect()
}

fn our_files(metainfo: &Metainfo) -> Vec<(PathBuf, u64)> {
    metainfo
        .info
        .files
        .iter()
        .map(|f| (f.path.clone(), f.length))
        .collect()
}

#[test]
fn single_file_torrent_is_accepted_and_fully_verified_by_libtorrent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("movie.mp4");
    write_pattern(&data, 5_000_001, 1);
    let torrent = dir.path().join("movie.torrent");
    let printed = piecewise_create(
        &data,
        &torrent,
        &[
            "--tracker",
            "udp://127.0.0.1:6969",
            "--tracker",
            "http://127.0.0.1:6969/announce",
            "--web-seed",
            "http://127.0.0.1:8000/movie.mp4",
        ],
    );
    let ours = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    let lt = inspect(&torrent);
    assert_eq!(lt["info_hash"], ours.info_hash.to_hex());
    assert_eq!(lt["num_pieces"], ours.info.piece_count());
    assert_eq!(lt["total_size"], 5_000_001);
    assert_eq!(lt["files"], serde_json::json!([["movie.mp4", 5_000_001]]));
    assert_eq!(
        lt["trackers"],
        serde_json::json!(["udp://127.0.0.1:6969", "http://127.0.0.1:6969/announce"])
    );
    assert_eq!(
        lt["web_seeds"],
        serde_json::json!(["http://127.0.0.1:8000/movie.mp4"])
    );
    assert_eq!(
        verify(&torrent, dir.path()),
        u64::from(ours.info.piece_count())
    );
    let magnet = Magnet::parse(printed.trim()).unwrap();
    assert_eq!(magnet.info_hash, ours.info_hash);
    assert_eq!(magnet.display_name.as_deref(), Some("movie.mp4"));
    assert_eq!(magnet.trackers.len(), 2);
}

#[test]
fn multi_file_private_torrent_is_accepted_and_fully_verified_by_libtorrent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("series");
    write_pattern(&root.join("s01/e01.mkv"), 300_000, 1);
    write_pattern(&root.join("s01/e02.mkv"), 123_457, 2);
    write_pattern(&root.join("cover.jpg"), 20_000, 3);
    std::fs::write(root.join("empty.nfo"), b"").unwrap();
    let torrent = dir.path().join("series.torrent");
    piecewise_create(&root, &torrent, &["--piece-length", "32768", "--private"]);
    let ours = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    assert_eq!(ours.info.piece_length, 32768);
    assert!(ours.info.private);
    let lt = inspect(&torrent);
    assert_eq!(lt["info_hash"], ours.info_hash.to_hex());
    assert_eq!(lt["private"], true);
    assert_eq!(files_of(&lt), our_files(&ours));
    assert_eq!(
        verify(&torrent, dir.path()),
        u64::from(ours.info.piece_count())
    );
}

#[test]
fn torrents_made_by_libtorrent_parse_with_the_same_info_hash() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("album");
    write_pattern(&root.join("a.flac"), 70_000, 4);
    write_pattern(&root.join("b/c.flac"), 50_000, 5);
    for (source, name) in [
        (root.clone(), "album.torrent"),
        (root.join("a.flac"), "a.torrent"),
    ] {
        let torrent = dir.path().join(name);
        let lt = torrent_check(&[Path::new("make"), &source, &torrent, Path::new("16384")]);
        let ours = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
        assert_eq!(lt["info_hash"], ours.info_hash.to_hex());
        assert_eq!(lt["num_pieces"], ours.info.piece_count());
        assert_eq!(lt["total_size"], ours.info.total_length);
        assert_eq!(files_of(&lt), our_files(&ours));
    }
    // libtorrent 2 makes hybrid torrents whose files are aligned by BEP 47
    // pad files.
    let album =
        Metainfo::from_bytes(&std::fs::read(dir.path().join("album.torrent")).unwrap()).unwrap();
    let pads: Vec<bool> = album.info.files.iter().map(|f| f.pad).collect();
    assert_eq!(pads, [false, true, false, true]);
}

#[test]
fn create_refuses_a_bad_piece_length_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("x.bin");
    write_pattern(&data, 1000, 0);
    let output = Command::new(env!("CARGO_BIN_EXE_piecewise"))
        .args(["create", "--piece-length", "1000"])
        .arg(&data)
        .arg("-o")
        .arg(dir.path().join("x.torrent"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("power of two"), "{stderr}");
}
