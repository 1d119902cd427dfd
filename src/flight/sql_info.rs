//! What Floe tells clients about itself (GetSqlInfo) and the SQL types it
//! speaks (GetXdbcTypeInfo). Every answer here must be true of the server as
//! built: clients plan around these values.

use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder};
use std::collections::BTreeMap;

use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlNullOrdering, SqlOuterJoinsSupportLevel, SqlSupportedCaseSensitivity,
    SqlSupportedElementActions, SqlSupportedGroupBy, SqlSupportedResultSetConcurrency, SqlSupportedResultSetType,
    SqlSupportedSubqueries, SqlSupportedTransaction, SqlSupportedUnions, SqlSupportsConvert, SqlTransactionIsolationLevel,
    SupportedSqlGrammar, XdbcDataType, XdbcDatetimeSubcode,
};

const NUMERIC_FUNCTIONS: &[&str] =
    &["abs", "ceil", "floor", "round", "sqrt", "cbrt", "exp", "ln", "log10", "log2", "pow", "mod", "sign", "pi"];
const STRING_FUNCTIONS: &[&str] = &[
    "concat", "length", "lower", "upper", "ltrim", "rtrim", "btrim", "substr", "replace", "reverse", "left",
    "right", "starts_with", "ends_with", "strpos", "split_part", "initcap", "regexp_like",
];
const DATETIME_FUNCTIONS: &[&str] = &["date_part", "extract", "strftime", "date", "timestamp"];
const SYSTEM_FUNCTIONS: &[&str] = &["coalesce", "nullif", "greatest", "least"];

/// `1 << variant` for each variant: how Flight SQL encodes supported-feature sets.
fn bits<T: Into<i32> + Copy>(variants: &[T]) -> i32 {
    variants.iter().fold(0, |mask, v| mask | (1 << (*v).into()))
}

/// What CAST converts between, as JDBC's `supportsConvert` and ODBC's
/// `SQL_CONVERT_*` ask; every pair is exercised by the client tests.
fn conversions() -> BTreeMap<i32, Vec<i32>> {
    use SqlSupportsConvert::*;
    let numbers = [
        SqlConvertBigint, SqlConvertBit, SqlConvertDecimal, SqlConvertFloat, SqlConvertInteger, SqlConvertNumeric,
        SqlConvertReal, SqlConvertSmallint, SqlConvertTinyint,
    ];
    let codes = |targets: &mut dyn Iterator<Item = SqlSupportsConvert>| targets.map(|c| c as i32).collect::<Vec<_>>();
    let mut map = BTreeMap::new();
    for from in numbers {
        // Booleans cast to integers and floats, not to decimals.
        let decimal = |to: &SqlSupportsConvert| matches!(to, SqlConvertDecimal | SqlConvertNumeric);
        let mut targets = numbers.into_iter().filter(|to| from != SqlConvertBit || !decimal(to)).chain([SqlConvertVarchar]);
        map.insert(from as i32, codes(&mut targets));
    }
    // Text parses as any number (not as a boolean), a date, an ISO timestamp, or bytes.
    let mut text = numbers
        .into_iter()
        .filter(|to| *to != SqlConvertBit)
        .chain([SqlConvertVarchar, SqlConvertDate, SqlConvertTimestamp, SqlConvertVarbinary]);
    map.insert(SqlConvertVarchar as i32, codes(&mut text));
    let dates = [SqlConvertDate, SqlConvertTimestamp, SqlConvertVarchar];
    map.insert(SqlConvertDate as i32, codes(&mut dates.into_iter()));
    map.insert(SqlConvertTimestamp as i32, codes(&mut dates.into_iter()));
    map.insert(SqlConvertVarbinary as i32, codes(&mut [SqlConvertVarbinary].into_iter()));
    map
}

pub fn sql_info() -> SqlInfoData {
    let mut info = SqlInfoDataBuilder::new();
    server(&mut info);
    syntax(&mut info);
    capabilities(&mut info);
    limits(&mut info);
    transactions(&mut info);
    info.build().expect("static SqlInfo values are well-formed")
}

fn server(info: &mut SqlInfoDataBuilder) {
    info.append(SqlInfo::FlightSqlServerName, "Floe");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, "58");
    info.append(SqlInfo::FlightSqlServerReadOnly, false);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    info.append(SqlInfo::FlightSqlServerSubstraitMinVersion, "");
    info.append(SqlInfo::FlightSqlServerSubstraitMaxVersion, "");
    info.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransaction::None as i32,
    );
    info.append(SqlInfo::FlightSqlServerCancel, true);
    info.append(SqlInfo::FlightSqlServerBulkIngestion, true);
    info.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    info.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    info.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
}

/// Names, quoting, keywords and functions.
fn syntax(info: &mut SqlInfoDataBuilder) {
    // Identifiers match exactly, quoted or not; the enum has no
    // "case-sensitive, mixed case" value, so the honest answer is unknown.
    info.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityUnknown as i32,
    );
    info.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityUnknown as i32,
    );
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    info.append(SqlInfo::SqlKeywords, sqlparser::keywords::ALL_KEYWORDS);
    info.append(SqlInfo::SqlNumericFunctions, NUMERIC_FUNCTIONS);
    info.append(SqlInfo::SqlStringFunctions, STRING_FUNCTIONS);
    info.append(SqlInfo::SqlSystemFunctions, SYSTEM_FUNCTIONS);
    info.append(SqlInfo::SqlDatetimeFunctions, DATETIME_FUNCTIONS);
    // Metadata filter patterns (GetTables and friends) take `\` escapes.
    info.append(SqlInfo::SqlSearchStringEscape, "\\");
    info.append(SqlInfo::SqlExtraNameCharacters, "");
    info.append(SqlInfo::SqlSchemaTerm, "schema");
    info.append(SqlInfo::SqlProcedureTerm, "procedure");
    info.append(SqlInfo::SqlCatalogTerm, "catalog");
    info.append(SqlInfo::SqlCatalogAtStart, true);
    // Ascending sorts put NULLs last and descending ones first.
    info.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
}

/// What statements may contain.
fn capabilities(info: &mut SqlInfoDataBuilder) {
    info.append(SqlInfo::SqlDdlCatalog, false);
    info.append(SqlInfo::SqlDdlSchema, true);
    info.append(SqlInfo::SqlDdlTable, true);
    info.append(SqlInfo::SqlAllTablesAreSelectable, true);
    info.append(SqlInfo::SqlSupportsColumnAliasing, true);
    info.append(SqlInfo::SqlNullPlusNullIsNull, true);
    info.append(SqlInfo::SqlSupportsConvert, conversions());
    info.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    info.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    info.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    info.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    info.append(
        SqlInfo::SqlSupportedGroupBy,
        bits(&[
            SqlSupportedGroupBy::SqlGroupByUnrelated,
            SqlSupportedGroupBy::SqlGroupByBeyondSelect,
        ]),
    );
    info.append(SqlInfo::SqlSupportsLikeEscapeClause, false);
    info.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    info.append(
        SqlInfo::SqlSupportedGrammar,
        bits(&[
            SupportedSqlGrammar::SqlMinimumGrammar,
            SupportedSqlGrammar::SqlCoreGrammar,
        ]),
    );
    // arrow-flight does not export `SupportedAnsi92SqlGrammarLevel`; entry level is its variant 0.
    info.append(SqlInfo::SqlAnsi92SupportedLevel, 1i32 << 0);
    info.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    // The spec calls this an ordinal, but the JDBC driver tests it as a bitmask of the levels.
    info.append(
        SqlInfo::SqlOuterJoinsSupportLevel,
        bits(&[SqlOuterJoinsSupportLevel::SqlLimitedOuterJoins, SqlOuterJoinsSupportLevel::SqlFullOuterJoins]),
    );
    // `CALL catalog.system.procedure(...)` names its catalog and schema.
    let in_calls = bits(&[SqlSupportedElementActions::SqlElementInProcedureCalls]);
    info.append(SqlInfo::SqlSchemasSupportedActions, in_calls);
    info.append(SqlInfo::SqlCatalogsSupportedActions, in_calls);
    info.append(SqlInfo::SqlSupportedPositionedCommands, 0i32);
    info.append(SqlInfo::SqlSelectForUpdateSupported, false);
    info.append(SqlInfo::SqlStoredProceduresSupported, false);
    info.append(
        SqlInfo::SqlSupportedSubqueries,
        bits(&[
            SqlSupportedSubqueries::SqlSubqueriesInExists,
            SqlSupportedSubqueries::SqlSubqueriesInIns,
        ]),
    );
    info.append(SqlInfo::SqlCorrelatedSubqueriesSupported, false);
    info.append(
        SqlInfo::SqlSupportedUnions,
        bits(&[
            SqlSupportedUnions::SqlUnion,
            SqlSupportedUnions::SqlUnionAll,
        ]),
    );
    info.append(SqlInfo::SqlBatchUpdatesSupported, true);
    info.append(SqlInfo::SqlNamedParametersSupported, false);
    info.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    info.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    info.append(
        SqlInfo::SqlSupportedResultSetTypes,
        bits(&[SqlSupportedResultSetType::SqlResultSetTypeForwardOnly]),
    );
    let read_only = bits(&[SqlSupportedResultSetConcurrency::SqlResultSetConcurrencyReadOnly]);
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetUnspecified,
        0i32,
    );
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetForwardOnly,
        read_only,
    );
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollSensitive,
        0i32,
    );
    info.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollInsensitive,
        0i32,
    );
}

/// 0 is JDBC's and ODBC's "no limit, or not known": Floe sets none of these.
fn limits(info: &mut SqlInfoDataBuilder) {
    for limit in [
        SqlInfo::SqlMaxBinaryLiteralLength,
        SqlInfo::SqlMaxCharLiteralLength,
        SqlInfo::SqlMaxColumnNameLength,
        SqlInfo::SqlMaxColumnsInGroupBy,
        SqlInfo::SqlMaxColumnsInIndex,
        SqlInfo::SqlMaxColumnsInOrderBy,
        SqlInfo::SqlMaxColumnsInSelect,
        SqlInfo::SqlMaxColumnsInTable,
        SqlInfo::SqlMaxConnections,
        SqlInfo::SqlMaxCursorNameLength,
        SqlInfo::SqlMaxIndexLength,
        SqlInfo::SqlDbSchemaNameLength,
        SqlInfo::SqlMaxProcedureNameLength,
        SqlInfo::SqlMaxCatalogNameLength,
        SqlInfo::SqlMaxRowSize,
        SqlInfo::SqlMaxStatementLength,
        SqlInfo::SqlMaxStatements,
        SqlInfo::SqlMaxTableNameLength,
        SqlInfo::SqlMaxTablesInSelect,
        SqlInfo::SqlMaxUsernameLength,
    ] {
        info.append(limit, 0i64);
    }
    info.append(SqlInfo::SqlMaxRowSizeIncludesBlobs, false);
}

/// Every statement commits on its own; there are no client transactions.
fn transactions(info: &mut SqlInfoDataBuilder) {
    info.append(SqlInfo::SqlTransactionsSupported, false);
    // The spec says int32, but the JDBC driver reads an int64 (a Long).
    info.append(
        SqlInfo::SqlDefaultTransactionIsolation,
        SqlTransactionIsolationLevel::SqlTransactionNone as i64,
    );
    info.append(
        SqlInfo::SqlSupportedTransactionsIsolationLevels,
        bits(&[SqlTransactionIsolationLevel::SqlTransactionNone]),
    );
    info.append(SqlInfo::SqlDataDefinitionCausesTransactionCommit, false);
    info.append(SqlInfo::SqlDataDefinitionsInTransactionsIgnored, false);
    info.append(SqlInfo::SqlSavepointsSupported, false);
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
