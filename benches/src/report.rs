//! The result table, printed as Markdown so it can be pasted into BENCHMARKS.md as is.

pub struct Row {
    pub metric: String,
    pub result: String,
    pub target: String,
}

#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    pub fn row(&mut self, metric: impl Into<String>, result: impl Into<String>, target: impl Into<String>) {
        let row = Row { metric: metric.into(), result: result.into(), target: target.into() };
        // Echo as we go: a long run shows progress, and a crash later still leaves the numbers.
        eprintln!("  {:<58} {:>28}   target {}", row.metric, row.result, row.target);
        self.rows.push(row);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("  note: {note}");
        self.notes.push(note);
    }

    #[cfg(test)]
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn print(&self) {
        println!("| Measurement | berth | Target |");
        println!("|---|---:|---:|");
        for r in &self.rows {
            println!("| {} | {} | {} |", r.metric, r.result, r.target);
        }
        if !self.notes.is_empty() {
            println!();
            for n in &self.notes {
                println!("- {n}");
            }
        }
    }
}
