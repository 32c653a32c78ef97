//! Folders of photos: PNG and JPEG files, grey or colour, of any size. Each image is converted to
//! the folder's channel count (grey when every image is grey, else RGB; alpha is dropped) and
//! stretched to one size with bilinear interpolation: the size asked for, or else the most common
//! one. Sub-folders are classes, labelled 0, 1, … in name order (torchvision's ImageFolder
//! convention), so one-class training and labelled scoring work on folders.
//!
//! A trained model stores the shape it was trained on (channels × height × width); scoring a new
//! folder or photo prepares it to that shape by the same rule ([`Preparation::for_shape`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader};
use rayon::prelude::*;

use super::{Dataset, SampleKind, SampleShape};
use crate::error::{Error, Result};

/// File extensions read as images.
pub const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// The largest side an image is prepared to: a sample of 3 × 1024 × 1024 floats is 12 MiB.
pub const MAX_SIDE: usize = 1024;

/// How each image becomes a sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Preparation {
    /// 1 (grey) or 3 (RGB); `None`: grey if every image is grey, else RGB.
    pub channels: Option<usize>,
    /// (height, width); `None`: the most common size among the images.
    pub size: Option<(usize, usize)>,
}

impl Preparation {
    /// The preparation that gives samples of a model's input shape.
    pub fn for_shape(shape: SampleShape) -> Self {
        Preparation {
            channels: Some(shape.channels),
            size: Some((shape.height, shape.width)),
        }
    }
}

/// Whether `path` is a directory of images, or of sub-folders of images.
pub fn is_image_folder(path: &Path) -> bool {
    path.is_dir()
        && find(path)
            .map(|(files, _)| !files.is_empty())
            .unwrap_or(false)
}

/// Whether a file's name says it is an image this module reads.
pub fn is_image_file(path: &Path) -> bool {
    EXTENSIONS.contains(&super::extension(path).as_str())
}

/// Reads a folder of images, or one image file, into a data set of `N × C × H × W` pixel values
/// (0–255), with labels when the folder has class sub-folders.
pub fn read(path: &Path, preparation: Preparation) -> Result<Dataset> {
    let (files, labels) = if path.is_dir() {
        find(path)?
    } else {
        (vec![path.to_path_buf()], None)
    };
    if files.is_empty() {
        return Err(Error::format(
            path,
            format!(
                "no images (.{}) here or in its sub-folders",
                EXTENSIONS.join(", .")
            ),
        ));
    }
    let images: Vec<DynamicImage> = files
        .par_iter()
        .map(|file| decode(file))
        .collect::<Result<_>>()?;
    let channels = preparation.channels.unwrap_or_else(|| {
        if images.iter().all(|i| i.color().channel_count() <= 2) {
            1
        } else {
            3
        }
    });
    let (height, width) = preparation.size.unwrap_or_else(|| {
        most_common_size(
            images
                .iter()
                .map(|i| (i.height() as usize, i.width() as usize)),
        )
    });
    check_preparation(path, channels, (height, width))?;
    let plane = height * width;
    let mut values = vec![0.0f32; images.len() * channels * plane];
    values
        .par_chunks_mut(channels * plane)
        .zip(&images)
        .for_each(|(sample, image)| prepare(image, channels, height, width, sample));
    Ok(Dataset {
        values,
        shape: SampleShape::image(channels, height, width),
        kind: SampleKind::Image,
        labels,
        columns: None,
    })
}

/// Images decoded and prepared per block of a folder (`--stream`): memory holds one block of
/// [`IMAGE_BLOCK`] images, whatever the folder's size. Opening reads every file's header only,
/// for the default channels and size.
pub struct ImageBlocks {
    path: PathBuf,
    files: Vec<PathBuf>,
    labels: Option<Vec<u32>>,
    shape: SampleShape,
}

/// Images per block.
const IMAGE_BLOCK: usize = 256;

impl ImageBlocks {
    pub fn open(path: &Path, preparation: Preparation) -> Result<ImageBlocks> {
        let (files, labels) = if path.is_dir() {
            find(path)?
        } else {
            (vec![path.to_path_buf()], None)
        };
        if files.is_empty() {
            return Err(Error::format(path, "no images here or in its sub-folders"));
        }
        let (channels, size) = match (preparation.channels, preparation.size) {
            (Some(c), Some(size)) => (c, size),
            _ => {
                let headers: Vec<((usize, usize), bool)> =
                    files.par_iter().map(|f| header(f)).collect::<Result<_>>()?;
                let grey = headers.iter().all(|&(_, grey)| grey);
                let common = most_common_size(headers.iter().map(|&(size, _)| size));
                (
                    preparation.channels.unwrap_or(if grey { 1 } else { 3 }),
                    preparation.size.unwrap_or(common),
                )
            }
        };
        check_preparation(path, channels, size)?;
        Ok(ImageBlocks {
            path: path.to_path_buf(),
            files,
            labels,
            shape: SampleShape::image(channels, size.0, size.1),
        })
    }
}

impl super::stream::RowSource for ImageBlocks {
    fn shape(&self) -> SampleShape {
        self.shape
    }
    fn kind(&self) -> SampleKind {
        SampleKind::Image
    }
    fn columns(&self) -> Option<Vec<String>> {
        None
    }
    fn len(&self) -> usize {
        self.files.len()
    }
    fn blocks(&self) -> usize {
        self.files.len().div_ceil(IMAGE_BLOCK)
    }
    fn block_start(&self, b: usize) -> usize {
        b * IMAGE_BLOCK
    }
    fn read_block(&mut self, b: usize) -> Result<Dataset> {
        let range = b * IMAGE_BLOCK..((b + 1) * IMAGE_BLOCK).min(self.files.len());
        let SampleShape {
            channels,
            height,
            width,
        } = self.shape;
        let d = self.shape.features();
        let mut values = vec![0.0f32; range.len() * d];
        values
            .par_chunks_mut(d)
            .zip(&self.files[range.clone()])
            .try_for_each(|(sample, file)| {
                prepare(&decode(file)?, channels, height, width, sample);
                Ok::<_, Error>(())
            })?;
        Ok(Dataset {
            values,
            shape: self.shape,
            kind: SampleKind::Image,
            labels: self.labels.as_ref().map(|l| l[range].to_vec()),
            columns: None,
        })
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

/// An image's (height, width) and whether it is grey, from its header alone.
fn header(file: &Path) -> Result<((usize, usize), bool)> {
    use image::ImageDecoder;
    let decoder = ImageReader::open(file)
        .map_err(|e| Error::io(file, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(file, e))?
        .into_decoder()
        .map_err(|e| Error::format(file, format!("not a readable image: {e}")))?;
    let (w, h) = decoder.dimensions();
    let grey = decoder.color_type().channel_count() <= 2;
    Ok(((h as usize, w as usize), grey))
}

/// Refuses channel counts and sizes images are not prepared to.
fn check_preparation(path: &Path, channels: usize, (height, width): (usize, usize)) -> Result<()> {
    if channels != 1 && channels != 3 {
        return Err(Error::format(
            path,
            format!("images are prepared as 1 (grey) or 3 (RGB) channels, not {channels}"),
        ));
    }
    if height == 0 || width == 0 || height > MAX_SIDE || width > MAX_SIDE {
        return Err(Error::format(
            path,
            format!("an image size of {height}×{width} is not prepared (1 to {MAX_SIDE} a side)"),
        ));
    }
    Ok(())
}

/// The image files under `dir` in name order: its own, or, when it has sub-folders holding
/// images, theirs, labelled by the sub-folder's place in name order.
fn find(dir: &Path) -> Result<(Vec<PathBuf>, Option<Vec<u32>>)> {
    let entries = super::sorted_entries(dir)?;
    let classes: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
    let mut files = Vec::new();
    let mut labels = Vec::new();
    for class in &classes {
        let images: Vec<PathBuf> = super::sorted_entries(class)?
            .into_iter()
            .filter(|p| p.is_file() && is_image_file(p))
            .collect();
        if images.is_empty() {
            continue;
        }
        let label = labels.last().map_or(0, |&l: &u32| l + 1);
        labels.extend(std::iter::repeat_n(label, images.len()));
        files.extend(images);
    }
    if !files.is_empty() {
        return Ok((files, Some(labels)));
    }
    let files = entries
        .into_iter()
        .filter(|p| p.is_file() && is_image_file(p))
        .collect();
    Ok((files, None))
}

/// Decodes one image, within the `image` crate's default limits (512 MiB of decoded pixels), so
/// a header claiming a huge image is refused before it is allocated.
fn decode(file: &Path) -> Result<DynamicImage> {
    let reader = ImageReader::open(file)
        .map_err(|e| Error::io(file, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(file, e))?;
    reader
        .decode()
        .map_err(|e| Error::format(file, format!("not a readable image: {e}")))
}

/// The (height, width) most images have; ties go to the larger.
fn most_common_size(sizes: impl IntoIterator<Item = (usize, usize)>) -> (usize, usize) {
    let mut counts: HashMap<(usize, usize), usize> = HashMap::new();
    for size in sizes {
        *counts.entry(size).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(size, count)| (count, size))
        .map(|(size, _)| size)
        .unwrap_or((0, 0))
}

/// Writes one image into `sample` as channel planes, converted and stretched as asked.
fn prepare(image: &DynamicImage, channels: usize, height: usize, width: usize, sample: &mut [f32]) {
    let (w, h) = (width as u32, height as u32);
    let plane = height * width;
    let resize = |image: &DynamicImage| {
        if image.width() == w && image.height() == h {
            image.clone()
        } else {
            image.resize_exact(w, h, FilterType::Triangle)
        }
    };
    if channels == 1 {
        let grey = resize(image).into_luma8();
        for (v, p) in sample.iter_mut().zip(grey.as_raw()) {
            *v = f32::from(*p);
        }
    } else {
        let rgb = resize(image).into_rgb8();
        for (i, pixel) in rgb.as_raw().chunks_exact(3).enumerate() {
            for c in 0..3 {
                sample[c * plane + i] = f32::from(pixel[c]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Rgb, RgbImage};

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("hourglass-images-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_folder_of_mixed_images_becomes_one_shape_with_class_labels() {
        let dir = scratch("mixed");
        std::fs::create_dir_all(dir.join("cats")).unwrap();
        std::fs::create_dir_all(dir.join("dogs")).unwrap();
        // Two colour images of 8×6 (the common size), one 16×12 JPEG, one grey PNG.
        RgbImage::from_pixel(6, 8, Rgb([200, 10, 10]))
            .save(dir.join("cats/a.png"))
            .unwrap();
        RgbImage::from_pixel(6, 8, Rgb([10, 200, 10]))
            .save(dir.join("cats/b.png"))
            .unwrap();
        RgbImage::from_pixel(12, 16, Rgb([10, 10, 200]))
            .save(dir.join("dogs/c.jpg"))
            .unwrap();
        GrayImage::from_pixel(5, 5, image::Luma([90]))
            .save(dir.join("dogs/d.png"))
            .unwrap();
        std::fs::write(dir.join("dogs/notes.txt"), "not an image").unwrap();

        let data = read(&dir, Preparation::default()).unwrap();
        assert_eq!(data.shape, SampleShape::image(3, 8, 6));
        assert_eq!(data.labels.as_deref(), Some(&[0, 0, 1, 1][..]));
        let sample = |i: usize| &data.values[i * 144..(i + 1) * 144];
        // Channel planes: the red image is red in plane 0 only.
        assert_eq!(
            (sample(0)[0], sample(0)[48], sample(0)[96]),
            (200.0, 10.0, 10.0)
        );
        // The JPEG was stretched to 8×6 and stays mostly blue.
        assert!(sample(2)[96 + 20] > 150.0 && sample(2)[20] < 60.0);
        // The grey image has equal channels.
        assert_eq!((sample(3)[7], sample(3)[48 + 7]), (90.0, 90.0));

        // A model's shape is applied to a new photo: grey 4×4.
        let one = read(
            &dir.join("cats/a.png"),
            Preparation::for_shape(SampleShape::image(1, 4, 4)),
        )
        .unwrap();
        assert_eq!((one.len(), one.shape), (1, SampleShape::image(1, 4, 4)));

        // Read by blocks (--stream): the same shape from the headers, the same samples.
        use crate::data::stream::RowSource;
        let mut blocks = ImageBlocks::open(&dir, Preparation::default()).unwrap();
        assert_eq!(
            (blocks.shape(), blocks.len(), blocks.blocks()),
            (data.shape, 4, 1)
        );
        let block = blocks.read_block(0).unwrap();
        assert_eq!((block.values, block.labels), (data.values, data.labels));
    }

    #[test]
    fn broken_or_huge_images_are_refused_with_the_file_named() {
        let dir = scratch("broken");
        std::fs::write(dir.join("x.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
        let err = read(&dir, Preparation::default()).unwrap_err().to_string();
        assert!(
            err.contains("x.png") && err.contains("not a readable image"),
            "{err}"
        );
        let empty = scratch("empty");
        let err = read(&empty, Preparation::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no images"), "{err}");
        let ok = scratch("size");
        GrayImage::new(3, 3).save(ok.join("a.png")).unwrap();
        let huge = Preparation {
            channels: None,
            size: Some((4096, 4096)),
        };
        let err = read(&ok, huge).unwrap_err().to_string();
        assert!(err.contains("4096×4096"), "{err}");
    }
}
