//! `row_type!`: a row struct, its column list and a positional `FromRow`, from one
//! declaration.
//!
//! sqlx's derived `FromRow` finds every field's column by name, which costs a hash lookup
//! per field per row (eleven for a volunteer, so 220 for a page of twenty). Reading by
//! position skips that, and is only safe when the `SELECT` lists the columns in the
//! struct's order; so the macro writes the column list itself, from the field names, and
//! the two cannot drift apart. Types are still checked against the column's SQL type on
//! every read (`try_get`, not `try_get_unchecked`).

/// Declares `pub struct $name { pub field: Type, … }`, `pub const $columns: &str` with
/// the fields' names comma-separated in declaration order, and `FromRow` for any sqlx
/// driver whose rows index by position.
macro_rules! row_type {
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
                let mut column = 0usize;
                let $first = row.try_get(column)?;
                $(
                    column += 1;
                    let $field = row.try_get(column)?;
                )*
                let _ = column;
                Ok(Self { $first $(, $field)* })
            }
        }
    };
}

pub(crate) use row_type;
