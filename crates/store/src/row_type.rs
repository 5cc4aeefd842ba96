//! `row_type!`: a row struct, its column list and a positional `FromRow`, from one
//! declaration.
//!
//! sqlx's derived `FromRow` finds every field's column by name, which costs a hash lookup
//! per field per row (eleven for a volunteer, so 220 for a page of twenty). Reading by
//! position skips that, and is only safe when the `SELECT` lists the columns in the
//! struct's order; so the macro writes the column list itself, from the field names, and
//! the two cannot drift apart.
//!
//! `FromRow` checks every value's SQL type against its field (`try_get`). Where a driver's
//! columns have one type for the whole result, as PostgreSQL's do, [`decode_rows`] checks
//! the columns once, on the first row, and decodes the others without the check: the same
//! check, once per result instead of once per value (a tenth of a PostgreSQL list page's
//! CPU went to it). SQLite types each value by itself, so its backend keeps `FromRow`.

/// A row struct read by position (see [`row_type!`]).
pub trait Positional<R: sqlx::Row>: Sized {
    /// Checks that each column of `row`'s result decodes into its field, as sqlx's
    /// `try_get` does for one value.
    fn check_columns(row: &R) -> Result<(), sqlx::Error>;
    /// Decodes `row` without checking the columns' SQL types: only for a row of a result
    /// whose columns [`Positional::check_columns`] accepted.
    fn decode_checked(row: &R) -> Result<Self, sqlx::Error>;
}

/// The rows of one result, their column types checked once.
pub fn decode_rows<R: sqlx::Row, T: Positional<R>>(rows: &[R]) -> Result<Vec<T>, sqlx::Error> {
    if let Some(first) = rows.first() {
        T::check_columns(first)?;
    }
    // sized up front: collecting into a `Result` cannot see the length and grows by doubling
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(T::decode_checked(row)?);
    }
    Ok(out)
}

/// One row of a result by itself, checked and decoded.
pub fn decode_row<R: sqlx::Row, T: Positional<R>>(row: &R) -> Result<T, sqlx::Error> {
    T::check_columns(row)?;
    T::decode_checked(row)
}

/// Whether column `index` of `row`'s result decodes into `T`: sqlx's own test and error.
pub fn check_column<R: sqlx::Row, T: sqlx::Type<R::Database>>(row: &R, index: usize) -> Result<(), sqlx::Error> {
    use sqlx::{Column, TypeInfo};
    let column = row.columns().get(index).ok_or(sqlx::Error::ColumnIndexOutOfBounds { index, len: row.len() })?;
    let ty = column.type_info();
    if ty.is_null() || T::compatible(ty) {
        Ok(())
    } else {
        Err(sqlx::Error::ColumnDecode {
            index: format!("{index:?}"),
            source: sqlx::error::mismatched_types::<R::Database, T>(ty),
        })
    }
}

/// Declares `pub struct $name { pub field: Type, … }`, `pub const $columns: &str` with
/// the fields' names comma-separated in declaration order, `FromRow` for any sqlx driver
/// whose rows index by position, and [`Positional`].
macro_rules! row_type {
    // reads the fields in order, by position, with `$get` (`try_get` or `try_get_unchecked`)
    (@read $row:ident, $get:ident, $first:ident $(, $field:ident)*) => {{
        let mut column = 0usize;
        let $first = $row.$get(column)?;
        $(
            column += 1;
            let $field = $row.$get(column)?;
        )*
        let _ = column;
        Self { $first $(, $field)* }
    }};
    (
        $(#[$meta:meta])*
        pub struct $name:ident, $columns:ident {
            $first:ident: $first_ty:ty $(, $field:ident: $ty:ty)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name {
            pub $first: $first_ty,
            $(pub $field: $ty,)*
        }

        #[doc = concat!("The columns [`", stringify!($name), "`] reads, in its field order.")]
        pub const $columns: &str = concat!(stringify!($first) $(, ", ", stringify!($field))*);

        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $name
        where
            usize: sqlx::ColumnIndex<R>,
            $first_ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            $($ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)*
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                Ok(row_type!(@read row, try_get, $first $(, $field)*))
            }
        }

        impl<R: sqlx::Row> $crate::row_type::Positional<R> for $name
        where
            usize: sqlx::ColumnIndex<R>,
            $first_ty: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            $($ty: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)*
        {
            fn check_columns(row: &R) -> Result<(), sqlx::Error> {
                let mut column = 0usize;
                $crate::row_type::check_column::<R, $first_ty>(row, column)?;
                $(
                    column += 1;
                    $crate::row_type::check_column::<R, $ty>(row, column)?;
                )*
                let _ = column;
                Ok(())
            }

            fn decode_checked(row: &R) -> Result<Self, sqlx::Error> {
                Ok(row_type!(@read row, try_get_unchecked, $first $(, $field)*))
            }
        }
    };
}

pub(crate) use row_type;
