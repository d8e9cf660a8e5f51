//! Where the block around a line starts and ends, for "Fix with MODEL": the parse that the
//! check owns, asked for the smallest unit a model can correct on its own.

use tree_sitter::Node;

/// Statements a fix can replace whole: a function, a loop, a conditional, a `{ … }` or
/// `( … )` group.
const BLOCKS: &[&str] = &[
    "function_definition",
    "for_statement",
    "c_style_for_statement",
    "while_statement",
    "if_statement",
    "case_statement",
    "compound_statement",
    "subshell",
];

/// The lines (0-based, inclusive) of the block around `line`: the outermost function, loop,
/// conditional or group that holds it and spans at most `max_lines`; else the outermost
/// statement around it that fits (a top-level statement, a pipeline, a `&&` list); else
/// the line itself. A line outside any statement (blank, a comment) is its own block.
pub fn enclosing_block(script: &str, line: usize, max_lines: usize) -> (usize, usize) {
    let Some(tree) = super::walker::parse(script, None) else {
        return (line, line);
    };
    let fits = |n: &Node| n.end_position().row - n.start_position().row < max_lines;
    let on_line = |n: &Node| n.start_position().row <= line && line <= end_row(n);
    let mut node = tree.root_node();
    let mut chain: Vec<Node> = Vec::new();
    // Down from the root through the named children that hold the line.
    'descend: loop {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            if on_line(&child) {
                chain.push(child);
                node = child;
                continue 'descend;
            }
        }
        break;
    }
    let block = chain.iter().find(|n| BLOCKS.contains(&n.kind()) && fits(n));
    let statement = || chain.iter().find(|n| n.kind() != "comment" && fits(n));
    match block.or_else(statement) {
        Some(n) => (n.start_position().row, end_row(n)),
        None => (line, line),
    }
}

/// The last line a node covers: a node that ends at column 0 ends on the line before
/// (a heredoc body ends after its line break).
fn end_row(n: &Node) -> usize {
    let end = n.end_position();
    if end.column == 0 && end.row > n.start_position().row { end.row - 1 } else { end.row }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `script` with the line marked `# <-` as the finding's; `expected` the block's first
    /// and last line (1-based, as an editor shows them).
    fn check(script: &str, max_lines: usize, expected: (usize, usize)) {
        let line = script.lines().position(|l| l.contains("# <-")).expect("a marked line");
        let (start, end) = enclosing_block(script, line, max_lines);
        assert_eq!((start + 1, end + 1), expected, "in:\n{script}");
    }

    #[test]
    fn blocks() {
        let function = "#!/bin/bash\nset -u\n\ngreet() {\n  local name=$1\n  echo Hello $name # <-\n}\n\ngreet world\n";
        check(function, 40, (4, 7));
        // Too long for the limit: the statement on the line.
        check(function, 2, (6, 6));
        let nested = "for f in *.log; do\n  if [ -s $f ]; then # <-\n    gzip $f\n  fi\ndone\necho done\n";
        check(nested, 40, (1, 5));
        check(nested, 4, (2, 4));
        let list = "echo start\ncp $src \\\n  $dst && echo copied # <-\necho end\n";
        check(list, 40, (2, 3));
        check("echo one\nrm -rf $dir # <-\necho two\n", 40, (2, 2));
        let heredoc = "cat > $out <<EOF # <-\nline\nEOF\necho after\n";
        check(heredoc, 40, (1, 3));
        check("echo a\n\n# just a note # <-\necho b\n", 40, (3, 3));
        let case = "case $1 in\n  start) run $2 ;; # <-\n  *) usage ;;\nesac\n";
        check(case, 40, (1, 4));
        let group = "{\n  echo a\n  echo $b # <-\n} > log\n";
        check(group, 40, (1, 4));
    }
}
