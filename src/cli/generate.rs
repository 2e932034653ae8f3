//! `completions SHELL` and `man`: generated from the same clap definitions as the parser,
//! so they cannot drift from it (issue 12, point 10). Written through `Out`, so a closed
//! pipe (`custodia man | head`) ends quietly.

use clap::CommandFactory;

use super::args::Cli;
use super::output::Out;
use super::{Outcome, Run};

pub fn completions(shell: clap_complete::Shell, out: &mut Out) -> Run {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "custodia", &mut script);
    out.bytes(&script)?;
    Ok(Outcome::Success)
}

pub fn man(out: &mut Out) -> Run {
    let mut page = Vec::new();
    let written = clap_mangen::Man::new(Cli::command()).render(&mut page);
    written.map_err(|source| custodia::Error::Io {
        path: "the manual page".into(),
        source,
    })?;
    out.bytes(&page)?;
    Ok(Outcome::Success)
}
