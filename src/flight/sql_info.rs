//! What Floe tells clients about itself (GetSqlInfo) and the SQL types it
//! speaks (GetXdbcTypeInfo). Every answer here must be true of the server as
//! built: clients plan around these values.

use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder};
use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlOuterJoinsSupportLevel, SqlSupportedSubqueries, SqlSupportedTransaction,
    SqlSupportedUnions, XdbcDataType, XdbcDatetimeSubcode,
};

const NUMERIC_FUNCTIONS: &[&str] =
    &["abs", "ceil", "floor", "round", "sqrt", "cbrt", "exp", "ln", "log10", "log2", "pow", "mod", "sign", "pi"];
const STRING_FUNCTIONS: &[&str] = &[
    "concat", "length", "lower", "upper", "ltrim", "rtrim", "btrim", "substr", "replace", "reverse", "left",
    "right", "starts_with", "ends_with", "strpos", "split_part", "initcap", "regexp_like",
];
const DATETIME_FUNCTIONS: &[&str] = &["date_part", "extract", "strftime", "date", "timestamp"];

pub fn sql_info() -> SqlInfoData {
    let mut info = SqlInfoDataBuilder::new();
    info.append(SqlInfo::FlightSqlServerName, "Floe");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, "58");
    info.append(SqlInfo::FlightSqlServerReadOnly, false);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    info.append(SqlInfo::FlightSqlServerTransaction, SqlSupportedTransaction::None as i32);
    info.append(SqlInfo::FlightSqlServerCancel, true);
    info.append(SqlInfo::FlightSqlServerBulkIngestion, true);
    info.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    info.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    info.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    info.append(SqlInfo::SqlDdlCatalog, false);
    info.append(SqlInfo::SqlDdlSchema, true);
    info.append(SqlInfo::SqlDdlTable, true);
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    info.append(SqlInfo::SqlKeywords, sqlparser::keywords::ALL_KEYWORDS);
    info.append(SqlInfo::SqlNumericFunctions, NUMERIC_FUNCTIONS);
    info.append(SqlInfo::SqlStringFunctions, STRING_FUNCTIONS);
    info.append(SqlInfo::SqlDatetimeFunctions, DATETIME_FUNCTIONS);
    info.append(SqlInfo::SqlSchemaTerm, "schema");
    info.append(SqlInfo::SqlCatalogTerm, "catalog");
    info.append(SqlInfo::SqlCatalogAtStart, true);
    info.append(SqlInfo::SqlAllTablesAreSelectable, true);
    info.append(SqlInfo::SqlSupportsColumnAliasing, true);
    info.append(SqlInfo::SqlNullPlusNullIsNull, true);
    info.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    info.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    info.append(SqlInfo::SqlOuterJoinsSupportLevel, SqlOuterJoinsSupportLevel::SqlFullOuterJoins as i32);
    info.append(
        SqlInfo::SqlSupportedSubqueries,
        (1 << SqlSupportedSubqueries::SqlSubqueriesInExists as i32) | (1 << SqlSupportedSubqueries::SqlSubqueriesInIns as i32),
    );
    info.append(SqlInfo::SqlCorrelatedSubqueriesSupported, false);
    info.append(
        SqlInfo::SqlSupportedUnions,
        (1 << SqlSupportedUnions::SqlUnion as i32) | (1 << SqlSupportedUnions::SqlUnionAll as i32),
    );
    info.append(SqlInfo::SqlTransactionsSupported, false);
    info.append(SqlInfo::SqlBatchUpdatesSupported, true);
    info.append(SqlInfo::SqlSavepointsSupported, false);
    info.append(SqlInfo::SqlSelectForUpdateSupported, false);
    info.append(SqlInfo::SqlStoredProceduresSupported, false);
    info.build().expect("static SqlInfo values are well-formed")
}

fn xdbc(name: &str, data_type: XdbcDataType, column_size: Option<i32>) -> XdbcTypeInfo {
    let quoted = matches!(
        data_type,
        XdbcDataType::XdbcVarchar | XdbcDataType::XdbcDate | XdbcDataType::XdbcTime | XdbcDataType::XdbcTimestamp
    );
    let datetime_subcode = match data_type {
        // ODBC SQL_CODE_DATE is 1, which the proto names after YEAR.
        XdbcDataType::XdbcDate => Some(XdbcDatetimeSubcode::XdbcSubcodeYear),
        XdbcDataType::XdbcTime => Some(XdbcDatetimeSubcode::XdbcSubcodeTime),
        XdbcDataType::XdbcTimestamp => Some(XdbcDatetimeSubcode::XdbcSubcodeTimestamp),
        _ => None,
    };
    let numeric = matches!(
        data_type,
        XdbcDataType::XdbcTinyint | XdbcDataType::XdbcSmallint | XdbcDataType::XdbcInteger
            | XdbcDataType::XdbcBigint | XdbcDataType::XdbcFloat | XdbcDataType::XdbcReal
            | XdbcDataType::XdbcDouble | XdbcDataType::XdbcDecimal
    );
    XdbcTypeInfo {
        type_name: name.to_string(),
        data_type,
        column_size,
        literal_prefix: quoted.then(|| "'".to_string()),
        literal_suffix: quoted.then(|| "'".to_string()),
        create_params: (data_type == XdbcDataType::XdbcDecimal).then(|| vec!["precision".into(), "scale".into()]),
        nullable: Nullable::NullabilityNullable,
        case_sensitive: data_type == XdbcDataType::XdbcVarchar,
        searchable: Searchable::Full,
        unsigned_attribute: numeric.then_some(false),
        fixed_prec_scale: data_type == XdbcDataType::XdbcDecimal,
        auto_increment: numeric.then_some(false),
        local_type_name: Some(name.to_string()),
        minimum_scale: (data_type == XdbcDataType::XdbcDecimal).then_some(0),
        maximum_scale: (data_type == XdbcDataType::XdbcDecimal).then_some(38),
        sql_data_type: data_type,
        datetime_subcode,
        num_prec_radix: numeric.then_some(10),
        interval_precision: None,
    }
}

/// The SQL type names polars-sql accepts in CAST, per XDBC type.
pub fn xdbc_types() -> XdbcTypeInfoData {
    let mut types = XdbcTypeInfoDataBuilder::new();
    for info in [
        xdbc("BOOLEAN", XdbcDataType::XdbcBit, Some(1)),
        xdbc("TINYINT", XdbcDataType::XdbcTinyint, Some(3)),
        xdbc("SMALLINT", XdbcDataType::XdbcSmallint, Some(5)),
        xdbc("INTEGER", XdbcDataType::XdbcInteger, Some(10)),
        xdbc("BIGINT", XdbcDataType::XdbcBigint, Some(19)),
        xdbc("REAL", XdbcDataType::XdbcReal, Some(7)),
        xdbc("DOUBLE", XdbcDataType::XdbcDouble, Some(15)),
        xdbc("DECIMAL", XdbcDataType::XdbcDecimal, Some(38)),
        xdbc("VARCHAR", XdbcDataType::XdbcVarchar, None),
        xdbc("BINARY", XdbcDataType::XdbcVarbinary, None),
        xdbc("DATE", XdbcDataType::XdbcDate, Some(10)),
        xdbc("TIME", XdbcDataType::XdbcTime, Some(18)),
        xdbc("TIMESTAMP", XdbcDataType::XdbcTimestamp, Some(29)),
    ] {
        types.append(info);
    }
    types.build().expect("static XDBC type rows are well-formed")
}
