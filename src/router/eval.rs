//! Measures the router on a labelled file (`route --eval FILE`): accuracy per group, the
//! confusion matrix and every misroute, so anyone can check a routing change on their own
//! requests. A request counts as routed to code when the decision is the code or heavy tier.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use super::intent::Example;
use super::{RouteRequest, Router};
use crate::vocab::{ModelTier, Task};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Evaluation {
    /// Right and total per group, in name order.
    pub groups: BTreeMap<String, (usize, usize)>,
    /// `[expected code][routed code]`.
    pub confusion: [[usize; 2]; 2],
    pub misroutes: Vec<Misroute>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Misroute {
    pub group: String,
    pub expected_code: bool,
    pub text: String,
    pub reasons: String,
}

impl Evaluation {
    pub fn right(&self) -> usize {
        self.confusion[0][0] + self.confusion[1][1]
    }

    pub fn total(&self) -> usize {
        self.confusion.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        self.right() as f64 / self.total().max(1) as f64
    }
}

/// Routes every example as an `ask` in its document language, as an editor would send it.
pub fn evaluate(router: &Router, examples: &[Example]) -> Evaluation {
    let mut eval = Evaluation::default();
    for e in examples {
        let request = RouteRequest { task: Task::Ask, language: e.language.as_deref(), tier: None };
        let decision = router.decide(&e.text, &request);
        let routed_code = decision.tier != ModelTier::Fast;
        eval.confusion[usize::from(e.code)][usize::from(routed_code)] += 1;
        let group = if e.group.is_empty() { "(none)".to_string() } else { e.group.clone() };
        let entry = eval.groups.entry(group.clone()).or_default();
        entry.1 += 1;
        if routed_code == e.code {
            entry.0 += 1;
        } else {
            eval.misroutes.push(Misroute {
                group,
                expected_code: e.code,
                text: e.text.clone(),
                reasons: decision.reasons_text(),
            });
        }
    }
    eval
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |r: usize, n: usize| 100.0 * r as f64 / n.max(1) as f64;
        writeln!(f, "accuracy: {}/{} = {:.1} %", self.right(), self.total(), 100.0 * self.accuracy())?;
        writeln!(f, "per group:")?;
        for (group, (right, total)) in &self.groups {
            writeln!(f, "  {group:<16} {right:>5}/{total:<5} {:5.1} %", pct(*right, *total))?;
        }
        let [[gg, gc], [cg, cc]] = self.confusion;
        writeln!(f, "confusion (rows: expected, columns: routed):")?;
        writeln!(f, "                 general   code")?;
        writeln!(f, "  general        {gg:>7} {gc:>6}")?;
        writeln!(f, "  code           {cg:>7} {cc:>6}")?;
        writeln!(f, "misroutes: {}", self.misroutes.len())?;
        for m in &self.misroutes {
            let mut one_line = String::new();
            for c in m.text.chars().take(100) {
                let _ = write!(one_line, "{}", if c == '\n' { '⏎' } else { c });
            }
            let expected = if m.expected_code { "code" } else { "general" };
            writeln!(f, "  [{}] expected {expected}: {one_line}\n      {}", m.group, m.reasons)?;
        }
        Ok(())
    }
}
