//! A unified line diff, for showing how an output differs from its expectation.

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// One step of an edit script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edit {
    /// Expected line `i` matches actual line `j`.
    Same(usize, usize),
    /// Expected line `i` has no counterpart.
    Removed(usize),
    /// Actual line `j` has no counterpart.
    Added(usize),
}

/// A unified diff (`-` expected only, `+` actual only, three lines of context, `@@`
/// hunk headers with 1-based line numbers in the expectation block) of two line lists,
/// where `same` says whether an expected and an actual line match. Lines that match
/// but differ in text (numbers within tolerance) print as context, in their actual form.
pub fn unified(
    expected: &[String],
    actual: &[String],
    same: impl Fn(&str, &str) -> bool,
) -> String {
    let edits = edit_script(expected, actual, same);
    let mut out = String::from("--- expected\n+++ actual\n");
    for (lo, hi) in hunks(&edits) {
        out += &hunk_header(&edits[lo..hi]);
        for e in &edits[lo..hi] {
            out += &match *e {
                Edit::Same(_, j) => format!(" {}\n", actual[j]),
                Edit::Removed(i) => format!("-{}\n", expected[i]),
                Edit::Added(j) => format!("+{}\n", actual[j]),
            };
        }
    }
    out
}

/// `actual`, except that lines matching an expected line under `same` keep the expected
/// text: blessing then rewrites only what really changed, and keeps expected values that
/// came from elsewhere (and agree within tolerance) as they were written.
pub fn merge(
    expected: &[String],
    actual: &[String],
    same: impl Fn(&str, &str) -> bool,
) -> Vec<String> {
    let edits = edit_script(expected, actual, same);
    let kept = edits.iter().filter_map(|e| match *e {
        Edit::Same(i, _) => Some(expected[i].clone()),
        Edit::Added(j) => Some(actual[j].clone()),
        Edit::Removed(_) => None,
    });
    kept.collect()
}

/// The longest-common-subsequence edit script from `a` to `b`.
fn edit_script(a: &[String], b: &[String], same: impl Fn(&str, &str) -> bool) -> Vec<Edit> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if same(&a[i], &b[j]) {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && same(&a[i], &b[j]) {
            out.push(Edit::Same(i, j));
            (i, j) = (i + 1, j + 1);
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(Edit::Removed(i));
            i += 1;
        } else {
            out.push(Edit::Added(j));
            j += 1;
        }
    }
    out
}

/// Ranges of the edit script to print: every change with up to [`CONTEXT`] unchanged
/// lines on each side, overlapping ranges merged.
fn hunks(edits: &[Edit]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (k, e) in edits.iter().enumerate() {
        if matches!(e, Edit::Same(..)) {
            continue;
        }
        let (lo, hi) = (
            k.saturating_sub(CONTEXT),
            (k + 1 + CONTEXT).min(edits.len()),
        );
        match out.last_mut() {
            Some(last) if lo <= last.1 => last.1 = hi,
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// `@@ -start,len +start,len @@` for a range of edits.
fn hunk_header(edits: &[Edit]) -> String {
    let old = edits.iter().filter_map(|e| match *e {
        Edit::Same(i, _) | Edit::Removed(i) => Some(i),
        Edit::Added(_) => None,
    });
    let new = edits.iter().filter_map(|e| match *e {
        Edit::Same(_, j) | Edit::Added(j) => Some(j),
        Edit::Removed(_) => None,
    });
    format!("@@ -{} +{} @@\n", range(old), range(new))
}

/// `start,len` of a run of 0-based indices, 1-based as diff prints it.
fn range(mut it: impl Iterator<Item = usize>) -> String {
    match it.next() {
        Some(first) => format!("{},{}", first + 1, 1 + it.count()),
        None => "0,0".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(String::from).collect()
    }

    #[test]
    fn a_changed_line_shows_with_its_context() {
        let a = lines("1\n2\n3\n4\n5\n6\n7\n8\n9\n10");
        let b = lines("1\n2\n3\n4\n5\nsix\n7\n8\n9\n10");
        let d = unified(&a, &b, |x, y| x == y);
        assert_eq!(
            d,
            "--- expected\n+++ actual\n@@ -3,7 +3,7 @@\n 3\n 4\n 5\n-6\n+six\n 7\n 8\n 9\n"
        );
    }

    #[test]
    fn distant_changes_make_separate_hunks_and_additions_count() {
        let a = lines("a\nb\nc\nd\ne\nf\ng\nh\ni\nj");
        let b = lines("A\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk");
        let d = unified(&a, &b, |x, y| x == y);
        assert!(d.contains("@@ -1,4 +1,4 @@\n-a\n+A\n b\n c\n d\n"), "{d}");
        assert!(d.contains("@@ -8,3 +8,4 @@\n h\n i\n j\n+k\n"), "{d}");
    }

    #[test]
    fn merging_keeps_matching_expected_lines() {
        let a = lines("x 1.0\ny\nz");
        let b = lines("x 1.0000001\nY\nz");
        let m = merge(&a, &b, |x, y| x.split(' ').next() == y.split(' ').next());
        assert_eq!(m, lines("x 1.0\nY\nz"));
    }

    #[test]
    fn equal_under_the_predicate_is_no_change() {
        let a = lines("x 1.0\ny");
        let b = lines("x 1.0000001\ny");
        let d = unified(&a, &b, |x, y| x.split(' ').next() == y.split(' ').next());
        assert_eq!(d, "--- expected\n+++ actual\n");
    }
}
