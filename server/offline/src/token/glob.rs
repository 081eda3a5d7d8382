//! The glob dialect of `tools` caveats.
//!
//! Deliberately tiny so every SDK implements it identically: `*` matches
//! any run of characters (empty included, `.` included), `?` matches
//! exactly one character, every other character matches itself. There is
//! no escaping, no character class and no case folding, and the whole name
//! must match. Implemented here rather than with `globset`, whose path
//! semantics (separators, `**`, classes) would each need a matching rule in
//! every other language.

/// Whether `name` matches the glob `pattern` (see the module docs).
///
/// Runs in `O(len(pattern) × len(name))` at worst, without recursion.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // Position of the last `*` seen and of the name character it is
    // currently assumed to stop before; on a mismatch the star absorbs one
    // more character and matching resumes after it.
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match backtrack {
                Some((star, absorbed)) => {
                    p = star + 1;
                    n = absorbed + 1;
                    backtrack = Some((star, absorbed + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}
