//! Reports as spreadsheets: a report is one or more tables of typed cells, written as CSV
//! (`Accept: text/csv`, one table) or as an XLSX workbook (`?format=xlsx`, a sheet per table,
//! money as numbers in a currency format, dates as dates, a bold header row, frozen panes).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, XlsxError};

use crate::error::{AppError, FieldIssue};

/// The XLSX media type.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Json,
    Csv,
    Xlsx,
}

/// `?format=` wins (`json`, `csv`, `xlsx`); else `Accept: text/csv` or the XLSX media type;
/// else JSON.
pub fn negotiate(req: &HttpRequest, format: Option<&str>) -> Result<OutputFormat, FieldIssue> {
    match format.map(|f| f.trim().to_ascii_lowercase()).as_deref() {
        Some("json") => return Ok(OutputFormat::Json),
        Some("csv") => return Ok(OutputFormat::Csv),
        Some("xlsx") => return Ok(OutputFormat::Xlsx),
        Some(_) => {
            return Err(FieldIssue::new(
                "invalid_enum",
                "must be one of: json, csv, xlsx",
            ));
        }
        None => {}
    }
    if crate::http::csv::wants_csv(req) {
        return Ok(OutputFormat::Csv);
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.split(',').any(|m| m.trim().starts_with(XLSX)) {
        return Ok(OutputFormat::Xlsx);
    }
    Ok(OutputFormat::Json)
}

/// A typed cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// Cents, shown as a currency amount.
    Money(i64),
    Date(NaiveDate),
    /// A measure shown with one decimal (minutes).
    Decimal1(f64),
    Empty,
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Self {
        Cell::Text(s.into())
    }

    pub fn opt_text(s: Option<impl Into<String>>) -> Self {
        s.map_or(Cell::Empty, |s| Cell::Text(s.into()))
    }

    pub fn opt_decimal1(v: Option<f64>) -> Self {
        v.map_or(Cell::Empty, Cell::Decimal1)
    }

    pub fn opt_date(d: Option<NaiveDate>) -> Self {
        d.map_or(Cell::Empty, Cell::Date)
    }

    /// The CSV form: money as a plain decimal (`-12.50`), dates as `YYYY-MM-DD`.
    pub fn csv(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Money(c) => money(*c),
            Cell::Date(d) => d.to_string(),
            Cell::Decimal1(v) => format!("{v:.1}"),
            Cell::Empty => String::new(),
        }
    }
}

/// Cents as a decimal with two places, exactly (no floating point).
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// One table of a report (a CSV file, or a sheet of the workbook).
#[derive(Debug, Clone)]
pub struct Table {
    /// The sheet name (at most 31 characters, no `[]:*?/\`).
    pub name: &'static str,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// The CSV download of one table.
pub fn csv(filename: &str, table: &Table) -> Result<HttpResponse, AppError> {
    crate::http::csv::csv_response(
        filename,
        &table.headers,
        table
            .rows
            .iter()
            .map(|r| r.iter().map(Cell::csv).collect::<Vec<_>>()),
    )
}

/// The workbook bytes: a sheet per table.
pub fn workbook(tables: &[Table]) -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let header = Format::new().set_bold();
    let money = Format::new().set_num_format("$#,##0.00;[Red]-$#,##0.00");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let decimal1 = Format::new().set_num_format("0.0");
    for t in tables {
        let ws = wb.add_worksheet();
        ws.set_name(t.name)?;
        for (c, h) in t.headers.iter().enumerate() {
            ws.write_string_with_format(0, col(c), *h, &header)?;
        }
        for (r, row) in t.rows.iter().enumerate() {
            let r = u32::try_from(r + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
            for (c, cell) in row.iter().enumerate() {
                let c = col(c);
                match cell {
                    Cell::Text(s) => {
                        ws.write_string(r, c, s)?;
                    }
                    // Counts and cents stay far below 2^53: exact as f64.
                    Cell::Int(i) => {
                        ws.write_number(r, c, *i as f64)?;
                    }
                    Cell::Money(cents) => {
                        ws.write_number_with_format(r, c, *cents as f64 / 100.0, &money)?;
                    }
                    Cell::Date(d) => {
                        let (y, m, day) = (d.year(), d.month(), d.day());
                        let dt = ExcelDateTime::from_ymd(
                            u16::try_from(y)
                                .map_err(|_| XlsxError::DateTimeRangeError(d.to_string()))?,
                            m as u8,
                            day as u8,
                        )?;
                        ws.write_datetime_with_format(r, c, &dt, &date)?;
                    }
                    Cell::Decimal1(v) => {
                        ws.write_number_with_format(r, c, *v, &decimal1)?;
                    }
                    Cell::Empty => {}
                }
            }
        }
        ws.set_freeze_panes(1, 0)?;
        ws.autofit();
    }
    wb.save_to_buffer()
}

fn col(c: usize) -> u16 {
    u16::try_from(c).unwrap_or(u16::MAX)
}

/// The XLSX download.
pub fn xlsx(filename: &str, tables: &[Table]) -> Result<HttpResponse, AppError> {
    let bytes = workbook(tables).map_err(|e| AppError::internal(format!("xlsx: {e}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, XLSX))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(bytes))
}

/// Answers a report in the format asked: JSON, the first table (or `csv_table`) as CSV, or
/// every table as a workbook.
pub fn respond<T: serde::Serialize>(
    fmt: OutputFormat,
    stem: &str,
    report: &T,
    tables: Vec<Table>,
    csv_table: usize,
) -> Result<HttpResponse, AppError> {
    match fmt {
        OutputFormat::Json => Ok(HttpResponse::Ok().json(report)),
        OutputFormat::Csv => {
            let t = tables
                .get(csv_table)
                .ok_or_else(|| AppError::internal("report without tables"))?;
            csv(&format!("{stem}.csv"), t)
        }
        OutputFormat::Xlsx => xlsx(&format!("{stem}.xlsx"), &tables),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact() {
        assert_eq!(money(0), "0.00");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(-1250), "-12.50");
        assert_eq!(money(123_456_789), "1234567.89");
    }

    #[test]
    fn a_workbook_freezes_its_header_and_formats_money_and_dates() {
        let t = Table {
            name: "Test",
            headers: vec!["a", "b", "c"],
            rows: vec![vec![
                Cell::text("x"),
                Cell::Money(1234),
                Cell::Date(NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()),
            ]],
        };
        let bytes = workbook(&[t]).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut xml = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
            &mut xml,
        )
        .unwrap();
        assert!(xml.contains(r#"ySplit="1""#), "frozen header row: {xml}");
        assert!(xml.contains(r#"state="frozen""#), "{xml}");
        let mut styles = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("xl/styles.xml").unwrap(), &mut styles)
            .unwrap();
        assert!(styles.contains("$#,##0.00"), "currency format: {styles}");
        assert!(styles.contains("yyyy-mm-dd"), "date format: {styles}");
    }
}
