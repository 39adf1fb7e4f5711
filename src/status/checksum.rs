//! The checksums migration tools store for each applied migration, computed exactly as the tool
//! computes them, so that `status` can tell an applied migration whose file changed since.

use sha2::{Digest, Sha384};

/// sqlx: SHA-384 of the migration file's text (`Migration::new` hashes the SQL as read), as the
/// lowercase hex of the `checksum` column. sqlx.toml's `ignored-chars` is not applied.
pub fn sqlx(text: &[u8]) -> String {
    let digest = Sha384::digest(text);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Flyway: CRC-32 (the IEEE polynomial, `java.util.zip.CRC32`) updated with the UTF-8 bytes of
/// each line without its terminator (lines as `BufferedReader.readLine` splits them: `\n`,
/// `\r\n` or `\r`), a byte order mark removed from the first line, read as a signed 32-bit int.
/// Line terminators never reach the CRC, so the same script with CRLF or LF endings has one
/// checksum, and an empty file has 0.
pub fn flyway(bytes: &[u8]) -> i32 {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut crc = Crc32::new();
    for line in text.split(['\n', '\r']) {
        crc.update(line.as_bytes());
    }
    crc.finish() as i32
}

/// CRC-32/ISO-HDLC of `bytes` (Go's `crc32.ChecksumIEEE`, zlib's, Java's).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(bytes);
    crc.finish()
}

/// The name golang-migrate's MySQL driver takes with `GET_LOCK` while it migrates:
/// `GenerateAdvisoryLockId("<database>:<table>")`, the CRC-32 of that text times the salt
/// 1486364155, wrapping at 32 bits, in decimal.
pub fn golang_migrate_mysql_lock(database: &str, table: &str) -> String {
    crc32(format!("{database}:{table}").as_bytes())
        .wrapping_mul(1_486_364_155)
        .to_string()
}

/// CRC-32/ISO-HDLC, the checksum of zlib and `java.util.zip.CRC32`.
struct Crc32 {
    state: u32,
}

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

impl Crc32 {
    fn new() -> Self {
        Crc32 { state: 0xFFFF_FFFF }
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state = CRC_TABLE[((self.state ^ b as u32) & 0xFF) as usize] ^ (self.state >> 8);
        }
    }

    fn finish(&self) -> u32 {
        self.state ^ 0xFFFF_FFFF
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The catalogued check value of CRC-32/ISO-HDLC: CRC of the ASCII digits 1..9.
        let mut c = Crc32::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xCBF4_3926);
        // Updating in pieces is the same as at once.
        let mut c = Crc32::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }

    #[test]
    fn flyway_checksums() {
        // One line "123456789": the check value, as a Java int (0xCBF43926 - 2^32).
        assert_eq!(flyway(b"123456789"), -873_187_034);
        // Terminators do not count, whatever they are, nor does a trailing one or a BOM.
        assert_eq!(flyway(b"1234\n56789\n"), -873_187_034);
        assert_eq!(flyway(b"1234\r\n56789\r\n"), -873_187_034);
        assert_eq!(flyway(b"1234\r56789"), -873_187_034);
        assert_eq!(flyway(b"\xef\xbb\xbf123456789\n"), -873_187_034);
        // An empty script: the CRC of nothing.
        assert_eq!(flyway(b""), 0);
        assert_eq!(flyway(b"\n\n"), 0);
        // "a": CRC-32 0xE8B7BE43, a negative int once read as signed.
        assert_eq!(flyway(b"a\n"), 0xE8B7_BE43_u32 as i32);
        // Any change to the text changes it.
        assert_ne!(
            flyway(b"CREATE TABLE t (a int);\n"),
            flyway(b"CREATE TABLE t (a bigint);\n")
        );
    }

    #[test]
    fn golang_migrate_lock_name() {
        // Values from Python's zlib.crc32, an independent implementation:
        // crc32(b"db:schema_migrations") = 776557296, and * 1486364155 % 2**32 = 1858699600.
        assert_eq!(crc32(b"db:schema_migrations"), 776_557_296);
        assert_eq!(
            golang_migrate_mysql_lock("db", "schema_migrations"),
            "1858699600"
        );
    }

    #[test]
    fn sqlx_checksum_is_sha384_hex() {
        // SHA-384 of the empty string (FIPS 180-2 test vector).
        assert_eq!(
            sqlx(b""),
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"
        );
        assert_eq!(sqlx(b"abc").len(), 96);
    }
}
