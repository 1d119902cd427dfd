//! `floe sql` and `floe tables`: a small Flight SQL client in the same binary.

use anyhow::{anyhow, Context};
use arrow::record_batch::RecordBatch;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::CommandGetTables;
use arrow_flight::FlightInfo;
use futures::TryStreamExt;
use tonic::transport::{Channel, Endpoint};

use crate::config::{ClientArgs, OutputFormat, RunArgs, SqlArgs};

pub async fn run_sql(args: SqlArgs) -> anyhow::Result<()> {
    let mut client = connect(&args.client).await?;
    let info = client.execute(args.query, None).await.map_err(readable)?;
    let batches = fetch(&mut client, info).await?;
    print(&batches, args.client.format)
}

pub async fn run_tables(args: ClientArgs) -> anyhow::Result<()> {
    let mut client = connect(&args).await?;
    let request = CommandGetTables { include_schema: false, ..Default::default() };
    let info = client.get_tables(request).await.map_err(readable)?;
    let batches = fetch(&mut client, info).await?;
    let names: Vec<_> = batches.iter().map(|b| b.project(&[0, 1, 2]).expect("GetTables has these columns")).collect();
    print(&names, args.format)
}

pub async fn run_workload(args: RunArgs) -> anyhow::Result<()> {
    let body = match args.request.as_str() {
        "-" => std::io::read_to_string(std::io::stdin()).context("cannot read the request from standard input")?,
        path if path.starts_with('@') => {
            std::fs::read_to_string(&path[1..]).with_context(|| format!("cannot read {}", &path[1..]))?
        }
        inline => inline.to_string(),
    };
    let mut client = connect(&args.client).await?;
    let action = arrow_flight::Action::new("floe.run", body.into_bytes());
    let mut results = client.do_action(action).await.map_err(readable)?;
    let first = results.message().await.map_err(|status| readable(status.into()))?;
    let body = first.ok_or_else(|| anyhow!("floe.run answered nothing"))?.body;
    let response: serde_json::Value = serde_json::from_slice(&body).context("floe.run answered something other than JSON")?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    if let (true, Some(ticket)) = (args.fetch, response.get("ticket").and_then(|t| t.as_str())) {
        let ticket = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, ticket)?;
        let stream = client.do_get(arrow_flight::Ticket::new(ticket)).await.map_err(readable)?;
        let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(readable)?;
        print(&batches, args.client.format)?;
    }
    Ok(())
}

async fn connect(args: &ClientArgs) -> anyhow::Result<FlightSqlServiceClient<Channel>> {
    let address = args
        .host
        .trim_start_matches("grpc+tcp://")
        .trim_start_matches("grpc://")
        .trim_start_matches("http://")
        .to_string();
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .with_context(|| format!("invalid server address `{}`", args.host))?;
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to Floe at {address}; is `floe serve` running?"))?;
    let mut client = FlightSqlServiceClient::new(channel);
    if let Some(token) = &args.token {
        client.set_token(token.clone());
    }
    Ok(client)
}

/// The result's batches; an empty result still yields one (empty) batch so
/// the output shows its columns.
async fn fetch(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> anyhow::Result<Vec<RecordBatch>> {
    let schema = std::sync::Arc::new(info.clone().try_decode_schema().context("server sent an unreadable schema")?);
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.ok_or_else(|| anyhow!("server returned an endpoint without a ticket"))?;
        let stream = client.do_get(ticket).await.map_err(readable)?;
        batches.extend(stream.try_collect::<Vec<_>>().await.map_err(readable)?);
    }
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    Ok(batches)
}

/// `InvalidArgument: SQL syntax error: …` rather than a debug dump of the status.
fn readable(err: FlightError) -> anyhow::Error {
    match err {
        FlightError::Tonic(status) => anyhow!("{:?}: {}", status.code(), status.message()),
        other => anyhow!(other),
    }
}

/// Arrow's formatter knows only offset time zones (`+00:00`) in this build;
/// UTC is shown as `+00:00`, and other named zones as UTC instants.
fn displayable(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    use arrow::datatypes::{DataType, Field, Schema};
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match field.data_type() {
            DataType::Timestamp(unit, Some(zone)) if !zone.starts_with(['+', '-']) => {
                let shown = DataType::Timestamp(*unit, Some("+00:00".into()));
                columns.push(arrow::compute::cast(column, &DataType::Timestamp(*unit, None))?.to_data());
                let data = columns.pop().expect("just pushed").into_builder().data_type(shown.clone()).build()?;
                columns.push(data);
                fields.push(Field::new(field.name(), shown, field.is_nullable()));
            }
            _ => {
                columns.push(column.to_data());
                fields.push(field.as_ref().clone());
            }
        }
    }
    let columns = columns.into_iter().map(arrow::array::make_array).collect();
    Ok(RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns)?)
}

fn print(batches: &[RecordBatch], format: OutputFormat) -> anyhow::Result<()> {
    let batches = batches.iter().map(displayable).collect::<anyhow::Result<Vec<_>>>()?;
    let batches = batches.as_slice();
    let stdout = std::io::stdout();
    match format {
        OutputFormat::Table => println!("{}", arrow::util::pretty::pretty_format_batches(batches)?),
        OutputFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(stdout.lock());
            for batch in batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::ArrayWriter::new(stdout.lock());
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            println!();
        }
    }
    Ok(())
}
