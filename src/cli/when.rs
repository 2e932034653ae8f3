//! Dates and times as people write them on the command line (issue 12, point 4): a day
//! alone stays a day; a time needs a zone, written with it or given by `--tz`.
//!
//! Clap parses each value alone, so a time that needs `--tz` is finished by `Checked` once
//! the whole command is parsed: still a usage error (exit 2), reported the same way.

use chrono::FixedOffset;
use clap::{ArgMatches, Args, Command, FromArgMatches};

use custodia::ids::{Moment, MomentError, parse_offset};

/// The forms accepted, named in every refusal.
const FORMS: &str = "write a day as 2024-03-02, or a time as 2024-03-02T14:05 (seconds and \
fractions allowed) with a zone (2024-03-02T14:05+03:00, 2024-03-02T14:05:00Z) or --tz; \
forms such as 02/03/2024 are refused because the order of day and month is ambiguous";

/// A date or time as given, before `--tz` is applied to one without a zone.
#[derive(Clone, Debug)]
pub struct Written {
    text: String,
    /// `None` until a time without a zone has been given one by `--tz`.
    moment: Option<Moment>,
}

impl Written {
    /// The text to record: as given, or (a time without a zone) with the `--tz` offset added.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The point in time, once `Checked` has run.
    pub fn moment(&self) -> Option<Moment> {
        self.moment
    }

    /// Gives a time without a zone the `--tz` offset, keeping the precision written.
    fn zone(&mut self, tz: Option<FixedOffset>, flag: &str) -> Result<(), String> {
        if self.moment.is_some() {
            return Ok(());
        }
        let Some(tz) = tz else {
            return Err(format!(
                "{flag} {} has no time zone: add one (as in {}+03:00 or {}Z) or pass --tz",
                self.text, self.text, self.text
            ));
        };
        // The separator becomes `T`, so what is recorded is ISO 8601 whatever was typed.
        let zoned = format!("{}T{}{tz}", &self.text[..10], &self.text[11..]);
        self.moment = Some(Moment::parse(&zoned).map_err(|_| format!("{flag}: {FORMS}"))?);
        self.text = zoned;
        Ok(())
    }
}

/// Parses `--captured-at` and the range bounds.
pub fn parse_written(text: &str) -> Result<Written, String> {
    match Moment::parse(text) {
        Ok(moment) => Ok(Written {
            text: text.to_owned(),
            moment: Some(moment),
        }),
        Err(MomentError::NoZone(_)) => Ok(Written {
            text: text.to_owned(),
            moment: None,
        }),
        Err(MomentError::Unreadable) => Err(FORMS.into()),
    }
}

/// Parses `--tz`.
pub fn parse_tz(text: &str) -> Result<FixedOffset, String> {
    parse_offset(text).ok_or_else(|| {
        "give a UTC offset such as +03:00, -05:30 or UTC (zone names such as Europe/Kyiv are \
         not supported: give the offset in force at that time)"
            .into()
    })
}

/// Applies `tz` to each time that lacks a zone; `flags` names each value's option.
pub fn zone_all(
    tz: Option<FixedOffset>,
    values: &mut [(&str, &mut Option<Written>)],
) -> Result<(), String> {
    for (flag, value) in values.iter_mut() {
        if let Some(v) = value.as_mut() {
            v.zone(tz, flag)?;
        }
    }
    Ok(())
}

/// Arguments whose values are checked together once parsed (a time and `--tz`).
pub trait Check {
    fn check(&mut self) -> Result<(), String>;
}

/// `T`, checked after clap has parsed it; a failed check is a usage error.
#[derive(Debug)]
pub struct Checked<T>(pub T);

impl<T: FromArgMatches + Check> FromArgMatches for Checked<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut inner = T::from_arg_matches(matches)?;
        inner
            .check()
            .map_err(|m| clap::Error::raw(clap::error::ErrorKind::ValueValidation, m))?;
        Ok(Checked(inner))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<T: Args + Check> Args for Checked<T> {
    fn augment_args(cmd: Command) -> Command {
        T::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        T::augment_args_for_update(cmd)
    }
}
