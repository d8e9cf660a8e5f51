//! Where a request runs, from request to answer: [`Pipeline::run`] routes, checks VRAM and
//! asks, streams through an [`Observer`], falls back, extracts the code and checks it. The
//! faces (`cli`, `lsp`, `http`) only translate their input into a [`Request`] and the
//! [`Answer`] into their output. Also the pieces a face needs to show an answer: prompts per
//! task, code extraction, and where an explanation's lines go in a document.

pub mod check;
pub mod edits;
pub mod extract;
pub mod fix;
mod pipeline;
pub mod prompts;
pub mod summary;
#[cfg(test)]
mod tests;

pub use check::{CodeCheck, Retry};
pub use fix::FixTarget;
pub use pipeline::{
    ActionError, Answer, Consent, ConsentError, Observer, Pipeline, Preload, Quiet, Request, VramStatus, VramWarning,
};
